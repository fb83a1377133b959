"""Walk-in desks (Balai Kota, kantor kecamatan and kelurahan): complaints typed in by
desk officers, delivered as JSON files in a drop folder or POSTed as JSON."""
