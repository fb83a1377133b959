"""The declarative ``http_json`` channel type: JSON sources (LAPOR!, Qlue...) by config alone."""
