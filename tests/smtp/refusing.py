"""An aiosmtpd handler for the tests: a Maildir like aiosmtpd.handlers.Mailbox that refuses
every recipient whose address starts with "bounce" with 550 (a hard bounce)."""

from aiosmtpd.handlers import Mailbox


class RefuseBounces(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"
