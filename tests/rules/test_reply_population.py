"""Which messages a reply-time metric judges (rules/events.py `messages_to_answer`): `senders` (Walmart counts
Walmart Customer Care inquiries: ../shared/reference/policies/walmart.md, walmart_seller_response_rate) and
`per_thread` (Etsy: "only the first message of each new incoming thread counts": policies/etsy.md), on the
calendar clock (SQL, rollup-able), the business clock (read in Python) and the reply queue."""

from conftest import NOW, D, H, one_metric_pack

from sellerguard.schema import Message


def _pack(**params):
    return one_metric_pack(calculator="response_time", params={"hours": 48, **params}, window_days=30,
                           comparator="<", threshold=0.5)


def _in_thread(world, thread, received, replied=None, sender="buyer"):
    world.records.append(Message(account=world.account, external_id=world._id("m"), thread_id=thread,
                                 received_at=received, first_reply_at=replied, sender=sender))


def _m(world, pack):
    return next(m for m in world.status("test", pack=pack).metrics if m.id == "test.m")


def test_customer_care_inquiries_count_when_the_metric_names_the_marketplace(world):
    world.message(NOW - 5 * D, NOW - 5 * D + 2 * H)  # a customer's inquiry, answered in 2 h
    world.message(NOW - 5 * D, None, sender="marketplace")  # Customer Care, unanswered for 5 days
    assert (_m(world, _pack()).numerator, _m(world, _pack()).denominator) == (0, 1)
    m = _m(world, _pack(senders=["buyer", "marketplace"]))
    assert (m.numerator, m.denominator) == (1, 2)


def test_per_thread_counts_only_the_first_message_of_a_thread(world):
    _in_thread(world, "T", NOW - 5 * D, NOW - 5 * D + H)  # first message, answered in an hour
    _in_thread(world, "T", NOW - 5 * D + 2 * H)  # a follow-up never answered: not counted
    _in_thread(world, "U", NOW - 4 * D)  # another thread's first message, unanswered: late
    m = _m(world, _pack(per_thread=True))
    assert (m.numerator, m.denominator) == (1, 2)
    m = _m(world, _pack())
    assert (m.numerator, m.denominator) == (2, 3)


def test_per_thread_on_the_business_clock_and_in_the_reply_queue(world, tmp_path):
    (tmp_path / "wk.toml").write_text('timezone = "UTC"\nweekend = ["sat", "sun"]\nholidays = []\n')
    world.calendars_dir = tmp_path
    _in_thread(world, "T", NOW - 5 * D, NOW - 5 * D + H)
    _in_thread(world, "T", NOW - 5 * D + 2 * H)
    m = _m(world, _pack(per_thread=True, clock="business", calendar="wk"))
    assert (m.numerator, m.denominator) == (0, 1)
    _in_thread(world, "V", NOW - 2 * H)  # a new thread waiting for its first reply: in the queue
    _in_thread(world, "T", NOW - H)  # a follow-up: the metric never judges it, so it is not queued for it
    acc = world.status("test", pack=_pack(per_thread=True))
    assert [d.ref for d in acc.deadlines if d.kind == "reply"] == ["V"]


def test_a_message_written_later_can_make_an_earlier_days_message_a_follow_up(world):
    """Per-thread metrics are read from the records (never day rollups): the result follows every write."""
    _in_thread(world, "T", NOW - 3 * D)  # stored first, unanswered: late
    assert _m(world, _pack(per_thread=True)).numerator == 1
    _in_thread(world, "T", NOW - 6 * D, NOW - 6 * D + H)  # an earlier message of the same thread arrives
    m = _m(world, _pack(per_thread=True))
    assert (m.numerator, m.denominator) == (0, 1)
