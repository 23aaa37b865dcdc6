"""The store: SQLAlchemy tables, migrations, reads and writes. SQLite by default, PostgreSQL
in production; the same tests run on both. Database errors never leave this package: they are
translated into `StoreError` subclasses."""
