"""SMS pieces the channel (bot/channels/sms.py) is built from: the date-of-birth verification policy."""
