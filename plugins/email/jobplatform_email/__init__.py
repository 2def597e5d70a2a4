"""The email plugin: the `sendEmail` job type, delivered over SMTP."""
