"""Code shared by Vigil's four functions: settings, database, schemas, events and workflows."""
