"""``watchtower heartbeat-check``: the receiving end of the Watchdog dead man's switch.

check.py is the pure part (settings, which source is silent, what to tell whom), service.py
the receiver, the check loop and the SMTP/Slack senders, commands.py the CLI.
"""
