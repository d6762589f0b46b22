"""cryptography loaded on first use, so a process that never reads a certificate never pays for it.

Importing ``cryptography.x509`` maps its Rust extension (about 8 MB of RSS and tens of
milliseconds): a daemon whose certs collector does not run, or ``watchtower version``, should not.
The stand-in is ``watchtower.core.lazy.lazy_module``.
"""

from watchtower.core.lazy import lazy_module

__all__ = ["lazy_module"]
