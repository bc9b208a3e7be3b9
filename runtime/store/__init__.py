"""The metadata store: models, engines, migrations, compare-and-set and one repository per concern.

Every function here takes a ``Session`` first and never commits; see ``docs/store.md``.
"""
