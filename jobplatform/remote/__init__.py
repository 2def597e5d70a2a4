"""Commands that talk to a running platform over its JSON API, through the client package
(`jobplatform_client`): `jobplatform login` and `jobplatform jobs ...`. Unlike `users`
or `queues` they need no settings, database or queue here, only a URL and a token."""
