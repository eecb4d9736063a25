"""The peer: pywa receiving the same signed deliveries, in its documented production setup.

Started by benchmarks/run.py inside its own virtualenv (var/bench/pywa) as
`pywa run benchmarks/pywa_bot.py --workers 2 --log-level warning --port PORT`, with the
bench's app secret, so every update's X-Hub-Signature-256 is validated. The handler does
nothing: pywa stores nothing, so this is the bar for speed, not for durability.
"""

import os

from pywa import WhatsApp, types

wa = WhatsApp(
    phone_id=os.environ["BENCH_PHONE_NUMBER_ID"],
    verify_token=os.environ["BENCH_VERIFY_TOKEN"],
    app_secret=os.environ["BENCH_APP_SECRET"],
    validate_updates=True,
)


@wa.on_message
def received(client: WhatsApp, message: types.Message):
    pass
