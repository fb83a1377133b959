"""The desk app (``/desk/``): officers at Balai Kota, kecamatan and kelurahan desks
type in walk-in complaints; each becomes a ``walkin`` complaint through the channel's
runner, exactly like a webhook's."""
