"""shout.upper, served from outside Ayanami with nothing but NATS.

    pip install nats-py
    python3 shout.py [NATS_URL]

It follows the event convention (see the README): a call arrives on
`<ID>.srvc.shout.upper.in.text` with the JSON value of `text`; the answer goes
to `<ID>.srvc.shout.upper.out.shouted`, or `{"message": ...}` to
`<ID>.srvc.shout.upper.err`. Subscribing in the queue group `shout` lets any
number of copies share the calls.
"""

import asyncio
import json
import signal
import sys

import nats

SERVICE, FUNCTION = "shout", "upper"


async def main(url):
    connection = await nats.connect(url)

    async def on_call(message):
        call_id = message.subject.split(".", 1)[0]
        event = f"{call_id}.srvc.{SERVICE}.{FUNCTION}"
        try:
            text = json.loads(message.data)
            if not isinstance(text, str):
                raise ValueError("`text` must be a string")
            await connection.publish(f"{event}.out.shouted", json.dumps(text.upper()).encode())
        except ValueError as error:
            await connection.publish(f"{event}.err", json.dumps({"message": str(error)}).encode())

    await connection.subscribe(f"*.srvc.{SERVICE}.{FUNCTION}.in.text", queue=SERVICE, cb=on_call)
    await connection.flush()
    print(f"{SERVICE}.{FUNCTION} ready on {url}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await connection.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
