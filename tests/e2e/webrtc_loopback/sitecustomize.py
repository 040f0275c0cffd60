"""Test-harness patch (never part of the product): make aioice offer 127.0.0.1 as a host ICE
candidate. aioice leaves loopback out of its host addresses, so a server and a browser on the
same machine with no network interface between them never connect. The browser test puts this
folder on the server's PYTHONPATH; Python imports ``sitecustomize`` at start-up."""

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
