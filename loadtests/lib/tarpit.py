"""A receiver that is up but never answers: accepts connections on the given loopback ports,
reads what arrives and sends nothing back, until killed (loadtests/fault-receivers.sh's "slow"
Loki and OTLP receivers). Usage: python3 tarpit.py PORT [PORT…]
"""

import asyncio
import sys


async def hold(reader, writer):
    while await reader.read(65536):
        pass
    writer.close()


async def main():
    servers = [await asyncio.start_server(hold, "127.0.0.1", int(port)) for port in sys.argv[1:]]
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
