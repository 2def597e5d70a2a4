"""Webhooks: admins register endpoints; finished jobs' events are POSTed to them, signed.

models.py (endpoints, event names), crypto.py (secrets, encrypted at rest), signing.py (the
headers and `verify` for receivers), service.py (every rule about endpoints), routing.py and
plugin.py (job events become delivery jobs, in any process), delivery.py (a delivery job's
data and body), sender.py (its processor: one signed POST an attempt), history.py (an
endpoint's delivery jobs as deliveries).
"""
