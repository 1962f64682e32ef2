"""The marts in PostgreSQL (production mode) and who may read them.

- `postgres_marts.publish_to_postgres`: when OFHQ_MARTS_POSTGRES_URL is set, every publish also
  writes the marts to schema `ofhq_marts`, one transaction per publish, bulk-loaded with COPY.
- `access`: group roles `ofhq_agency`, `ofhq_cfo`, `ofhq_employee`, row-level security on every
  creator-keyed mart, and `grant` / `revoke` of members (`ofhq access ...`, `commands.py`).
"""
