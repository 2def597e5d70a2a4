"""Webhooks: admins register endpoints; finished jobs' events are POSTed to them, signed.

models.py (endpoints, deliveries, tries), crypto.py (secrets, encrypted at rest),
signing.py (the headers and `verify` for receivers), service.py (every rule about
endpoints), routing.py and plugin.py (job events become pending deliveries, in any
process), delivery.py (one try: claim, send, record), dispatcher.py (the worker's sending
thread), retention.py (old deliveries removed).
"""
