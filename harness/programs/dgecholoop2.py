"""dgecholoop2: dgecholoop1 with SO_RCVBUF set to 220 * 1024 bytes (Stevens figure 8.22).

    dgecholoop2.py [--port 9877] [--slow-ms N] [--idle S] [--rcvbuf BYTES]

Linux doubles the value asked (room for its bookkeeping, socket(7)) and caps what it accepts
at net.core.rmem_max, so getsockopt reports what the kernel really granted.
"""

from __future__ import annotations

from dgecholoop1 import run

if __name__ == "__main__":
    run(default_rcvbuf=220 * 1024)
