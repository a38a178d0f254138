"""The registrar owns the database: models, migrations, registration, case numbers,
attachments, the append-only event log and the outbox. It imports no protocol and no workflow."""
