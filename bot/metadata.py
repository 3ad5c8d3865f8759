"""The keys a channel puts in a message's metadata for the actions, and the marker an action
sends back to a channel: one home, so the two sides cannot drift apart.

- TOKEN: the website's sign-in token (REST clients send it; the socket.io channel adds the one
  checked at connect). Never stored (bot.tracker_store redacts it).
- SMS_CLAIM: the SMS channel's signed claim that this conversation verified as a patient
  (bot.identity). Never stored either.
- SMS_LOCKED: the SMS channel's flag that records are locked for this number after misses.
- SMS_MARKER / SMS_VERIFY: the custom message an action sends to ask the SMS channel to start
  the date-of-birth step.
"""
TOKEN = "token"
SMS_CLAIM = "sms_claim"
SMS_LOCKED = "sms_locked"
SMS_MARKER = "carenav_sms"
SMS_VERIFY = "verify"

SECRETS = frozenset({TOKEN, SMS_CLAIM})  # never written to the tracker store
