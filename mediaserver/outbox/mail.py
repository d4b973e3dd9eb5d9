"""E-mail: templates per language (English, Russian), an outbox row queued in the transaction that causes
the mail, and delivery over SMTP with aiosmtplib (retried with back-off by the dispatcher)."""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import string
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.store.models import Email

log = logging.getLogger("mediaserver.outbox.mail")
MAX_ATTEMPTS = 6

# Subjects and paragraphs by kind and language. {name} fields are filled from the context; block texts of the
# invitation come from BLOCKS.
TEMPLATES: dict[str, dict[str, dict[str, Any]]] = {
    "activation": {
        "en": {
            "subject": "Activate your account on {page_name}",
            "body": [
                "Hello {name},",
                "{inviter} has made an account for you on {page_name}.",
                "Open this link to set your password and start: {link}",
                "The link works for {days} days.",
            ],
        },
        "ru": {
            "subject": "Активируйте учётную запись {page_name}",
            "body": [
                "Здравствуйте, {name}!",
                "{inviter} создал(а) для вас учётную запись {page_name}.",
                "Перейдите по ссылке, чтобы задать пароль и начать работу: {link}",
                "Ссылка действует {days} дней.",
            ],
        },
    },
    # issue 14 finding 22: sign-up confirms the address before the account works
    "signup": {
        "en": {
            "subject": "Confirm your address to start your trial on {page_name}",
            "body": [
                "Hello {name},",
                "someone (we hope you) signed up with this address.",
                "Open this link to set your password and start your 7-day trial: {link}",
                "The link works for {days} days. If you did not sign up, ignore this e-mail: nothing "
                "happens without the link.",
            ],
        },
        "ru": {
            "subject": "Подтвердите адрес, чтобы начать пробный период {page_name}",
            "body": [
                "Здравствуйте, {name}!",
                "С этим адресом кто-то (надеемся, вы) зарегистрировался.",
                "Перейдите по ссылке, чтобы задать пароль и начать 7-дневный пробный период: {link}",
                "Ссылка действует {days} дней. Если вы не регистрировались, не обращайте внимания на это "
                "письмо: без ссылки ничего не произойдёт.",
            ],
        },
    },
    "signup_taken": {
        "en": {
            "subject": "Someone tried to sign up with your address",
            "body": [
                "Hello {name},",
                "someone tried to sign up with this address, which already has an account.",
                "If it was you, sign in instead: {link}",
                "If it was not you, nothing has changed: you can ignore this e-mail.",
            ],
        },
        "ru": {
            "subject": "Кто-то пытался зарегистрироваться с вашим адресом",
            "body": [
                "Здравствуйте, {name}!",
                "кто-то пытался зарегистрироваться с этим адресом, для которого уже есть учётная запись.",
                "Если это были вы, просто войдите: {link}",
                "Если нет, ничего не изменилось: это письмо можно не принимать во внимание.",
            ],
        },
    },
    # issue 20: a forgotten password (mediaserver.accounts.recovery)
    "password_reset": {
        "en": {
            "subject": "Set a new password",
            "body": [
                "Hello {name},",
                "someone (we hope you) asked to set a new password for this address.",
                "Open this link to choose a new password: {link}",
                "The link works for {minutes} minutes and once. If you did not ask, ignore this e-mail: your "
                "password stays as it is.",
            ],
        },
        "ru": {
            "subject": "Задайте новый пароль",
            "body": [
                "Здравствуйте, {name}!",
                "кто-то (надеемся, вы) попросил задать новый пароль для этого адреса.",
                "Перейдите по ссылке, чтобы выбрать новый пароль: {link}",
                "Ссылка действует {minutes} минут и только один раз. Если вы не просили, не обращайте "
                "внимания на это письмо: пароль останется прежним.",
            ],
        },
    },
    "invitation": {
        "en": {
            "subject": "Invitation: {event}",
            "greeting": "Hello {name},",
            "intro": "{organiser} invites you to {event} ({when}) as {role_text}.",
            "roles": {"attendee": "an attendee", "presenter": "a presenter"},
        },
        "ru": {
            "subject": "Приглашение: {event}",
            "greeting": "Здравствуйте, {name}!",
            "intro": "{organiser} приглашает вас на мероприятие {event} ({when}) как {role_text}.",
            "roles": {"attendee": "участника", "presenter": "докладчика"},
        },
    },
    "reminder": {
        "en": {
            "subject": "Re-send the invitations to {event}",
            "body": [
                "The settings of {event} have changed.",
                "{count} invitee(s) have an invitation with the old details: re-send the invitations "
                "from the event's page: {link}",
            ],
        },
        "ru": {
            "subject": "Отправьте приглашения на {event} повторно",
            "body": [
                "Настройки мероприятия {event} изменились.",
                "У приглашённых ({count}) приглашение со старыми сведениями: отправьте приглашения "
                "повторно на странице мероприятия: {link}",
            ],
        },
    },
    # R-REC-4: a published recording sent to the event's participants
    "recording": {
        "en": {
            "subject": "The recording of {event}",
            "body": ["Hello {name},", "the recording of {event} is ready to watch: {link}", "{organiser}"],
        },
        "ru": {
            "subject": "Запись мероприятия {event}",
            "body": [
                "Здравствуйте, {name}!",
                "запись мероприятия {event} можно посмотреть по ссылке: {link}",
                "{organiser}",
            ],
        },
    },
    # R-AUTO-1: an automated event that could not start at its time (mediaserver.events.automation)
    "automation_failed": {
        "en": {
            "subject": "Your automated event {event} did not start",
            "body": [
                "Hello {name},",
                "{event} was to start by itself at {when}, but it could not: {reason}",
                "It stays on your dashboard marked as failed: set a new start time to run it, or delete "
                "it: {link}",
            ],
        },
        "ru": {
            "subject": "Автоматическое мероприятие {event} не началось",
            "body": [
                "Здравствуйте, {name}!",
                "мероприятие {event} должно было начаться само в {when}, но не смогло: {reason}",
                "Оно осталось в вашем расписании с отметкой о сбое: задайте новое время начала, чтобы "
                "провести его, или удалите его: {link}",
            ],
        },
    },
    # R-AUTO-2: the organiser's answer to an on-demand viewer's message
    "viewer_answer": {
        "en": {
            "subject": "Re: your message about {event}",
            "body": [
                "Hello {name},",
                "{organiser} answered the message you left while watching {event}:",
                "{answer}",
                "Your message: {question}",
            ],
        },
        "ru": {
            "subject": "Ответ на ваше сообщение: {event}",
            "body": [
                "Здравствуйте, {name}!",
                "{organiser} ответил(а) на сообщение, которое вы оставили при просмотре {event}:",
                "{answer}",
                "Ваше сообщение: {question}",
            ],
        },
    },
    "thank_you": {
        "en": {
            "subject": "Thank you for attending {event}",
            "body": [
                "Hello {name},",
                "thank you for attending {event}.",
                "{more}",
                "How was it? Rate the event from 1 to 5: {rate_link}",
            ],
        },
        "ru": {
            "subject": "Спасибо за участие в мероприятии {event}",
            "body": [
                "Здравствуйте, {name}!",
                "спасибо за участие в мероприятии {event}.",
                "{more}",
                "Как всё прошло? Оцените мероприятие от 1 до 5: {rate_link}",
            ],
        },
    },
    # R-BILL-10, paid webinars: the order, the ticket (a join button and the personal token), and the notices
    # of a rejected payer, a failed payment and a cancelled event. Refunds are not automatic (R-BILL-10; the
    # Russian original: the organiser may refund through their own payment account), so the notices say whom
    # to ask.
    "payment_pending": {
        "en": {
            "subject": "Your order for {event}: payment pending",
            "body": [
                "Hello {name},",
                "you ordered a ticket to {event} for {amount} {currency}.",
                "{instructions}",
                "Quote this payment reference with your payment: {reference}",
                "Pay here: {pay_url}",
                "Your ticket with the join link comes by e-mail once the payment is confirmed.",
            ],
        },
        "ru": {
            "subject": "Ваш заказ на {event}: ожидается оплата",
            "body": [
                "Здравствуйте, {name}!",
                "вы заказали билет на мероприятие {event} за {amount} {currency}.",
                "{instructions}",
                "Укажите при оплате номер платежа: {reference}",
                "Оплатить: {pay_url}",
                "Билет со ссылкой для подключения придёт по электронной почте после подтверждения оплаты.",
            ],
        },
    },
    "ticket": {
        "en": {
            "subject": "Your ticket: {event}",
            "button": "Join the event",
            "body": [
                "Hello {name},",
                "your payment of {amount} {currency} for {event} ({when}) is confirmed: this e-mail is "
                "your ticket.",
                "Join: {link}",
                "Your personal token: {token}",
                "Keep this e-mail: the token lets only you in, with the address this e-mail was sent to. "
                "Payment reference: {reference}.",
            ],
        },
        "ru": {
            "subject": "Ваш билет: {event}",
            "button": "Подключиться",
            "body": [
                "Здравствуйте, {name}!",
                "ваш платёж {amount} {currency} за участие в мероприятии {event} ({when}) подтверждён: "
                "это письмо — ваш билет.",
                "Подключиться: {link}",
                "Ваш личный токен: {token}",
                "Сохраните это письмо: токен открывает вход только вам, с адресом, на который пришло это "
                "письмо. Номер платежа: {reference}.",
            ],
        },
    },
    "payment_refused": {
        "en": {
            "subject": "Your ticket to {event} was not confirmed",
            "body": [
                "Hello {name},",
                "{organiser} did not confirm your payment of {amount} {currency} for {event} (payment "
                "reference {reference}); the event cannot be joined with this order.",
                "Reason: {reason}",
                "Refunds are not made automatically: if you have paid, write to the organiser at "
                "{organiser_email} about a refund.",
            ],
        },
        "ru": {
            "subject": "Ваш билет на {event} не подтверждён",
            "body": [
                "Здравствуйте, {name}!",
                "{organiser} не подтвердил(а) ваш платёж {amount} {currency} за участие в мероприятии "
                "{event} (номер платежа {reference}); по этому заказу подключиться нельзя.",
                "Причина: {reason}",
                "Деньги не возвращаются автоматически: если вы уже заплатили, напишите организатору по "
                "адресу {organiser_email} о возврате.",
            ],
        },
    },
    "payment_failed": {
        "en": {
            "subject": "Your payment for {event} did not go through",
            "body": [
                "Hello {name},",
                "the payment provider reported that your payment of {amount} {currency} for {event} "
                "(payment reference {reference}) failed.",
                "Reason: {reason}",
                "You can order again on the event's page: {link}",
            ],
        },
        "ru": {
            "subject": "Платёж за {event} не прошёл",
            "body": [
                "Здравствуйте, {name}!",
                "платёжная система сообщила, что ваш платёж {amount} {currency} за участие в мероприятии "
                "{event} (номер платежа {reference}) не прошёл.",
                "Причина: {reason}",
                "Вы можете заказать билет снова на странице мероприятия: {link}",
            ],
        },
    },
    "event_cancelled": {
        "en": {
            "subject": "Cancelled: {event}",
            "body": [
                "Hello {name},",
                "{organiser} has cancelled {event}.",
                "Your payment of {amount} {currency} (payment reference {reference}) is not refunded "
                "automatically: write to the organiser at {organiser_email} about a refund.",
            ],
        },
        "ru": {
            "subject": "Мероприятие отменено: {event}",
            "body": [
                "Здравствуйте, {name}!",
                "{organiser} отменил(а) мероприятие {event}.",
                "Ваш платёж {amount} {currency} (номер платежа {reference}) не возвращается "
                "автоматически: напишите организатору по адресу {organiser_email} о возврате.",
            ],
        },
    },
    "order_cancelled": {
        "en": {
            "subject": "Cancelled: {event}",
            "body": [
                "Hello {name},",
                "{organiser} has cancelled {event}.",
                "Your order (payment reference {reference}) is cancelled: please do not pay for it. If "
                "you have already paid, write to the organiser at {organiser_email} about a refund; "
                "refunds are not made automatically.",
            ],
        },
        "ru": {
            "subject": "Мероприятие отменено: {event}",
            "body": [
                "Здравствуйте, {name}!",
                "{organiser} отменил(а) мероприятие {event}.",
                "Ваш заказ (номер платежа {reference}) отменён: не оплачивайте его. Если вы уже "
                "заплатили, напишите организатору по адресу {organiser_email} о возврате; деньги не "
                "возвращаются автоматически.",
            ],
        },
    },
}
BUTTON_STYLE = (
    "display:inline-block;padding:10px 20px;background:#1a73e8;color:#ffffff;border-radius:4px;"
    "text-decoration:none;font-weight:bold"
)

# Invitation blocks (R-ROOM-11: the organiser chooses and orders them).
BLOCK_TEXT = {
    "en": {
        "link": "Join: {link}",
        "room_id": "Room ID: {room_id}",
        "token": "Your personal token: {token}",
        "dial_in": "Dial in: {numbers} (PIN {pin})",
        "agenda": "Agenda: {agenda}",
        "presenter": "Presenter: {organiser}",
        "buttons": "Accept: {link}  |  Decline: {decline_link}",
        "calendar": "Add to your calendar: {calendar_link}",
        "password": "Password: ask the organiser",
    },
    "ru": {
        "link": "Подключиться: {link}",
        "room_id": "ID переговорной: {room_id}",
        "token": "Ваш личный токен: {token}",
        "dial_in": "Подключение по телефону: {numbers} (PIN {pin})",
        "agenda": "Программа: {agenda}",
        "presenter": "Докладчик: {organiser}",
        "buttons": "Принять: {link}  |  Отклонить: {decline_link}",
        "calendar": "Добавить в календарь: {calendar_link}",
        "password": "Пароль: спросите у организатора",
    },
}
# The buttons block in HTML (R-ROOM-11's download / accept / decline): "Accept" is the join link, "Decline"
# the invitee's page that records a decline (signaling/api/rsvp.py), "Add to calendar" the event as an
# iCalendar file (when it has a date).
BUTTONS = {
    "en": ("Accept", "Decline", "Add to calendar"),
    "ru": ("Принять", "Отклонить", "Добавить в календарь"),
}
SECOND_BUTTON = (
    "display:inline-block;padding:10px 20px;background:#ffffff;color:#1a73e8;border:1px solid #1a73e8;"
    "border-radius:4px;text-decoration:none;font-weight:bold;margin-left:8px"
)
DEFAULT_BLOCKS = ["logo", "link", "room_id", "token", "dial_in", "agenda", "presenter", "buttons"]
BLOCK_NAMES = (*DEFAULT_BLOCKS, "text", "image", "url")


def lang(language: str | None) -> str:
    return language if language in ("en", "ru") else "en"


def _fmt(text: str, ctx: dict[str, Any]) -> str:
    return text.format_map(_Missing(ctx))


def _filled(line: str, ctx: dict[str, Any]) -> bool:
    """A line is left out when it is empty or when every field it names is empty ("Reason: " without one)."""
    names = [f for _, f, _, _ in string.Formatter().parse(line) if f]
    return bool(_fmt(line, ctx)) and (not names or any(ctx.get(n) not in (None, "") for n in names))


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(kind: str, language: str, ctx: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a mail."""
    t = TEMPLATES[kind][lang(language)]
    subject = _fmt(t["subject"], ctx)
    if kind == "invitation":
        lines, parts = _invitation(t, lang(language), ctx)
    else:
        lines = [_fmt(line, ctx) for line in t["body"] if _filled(line, ctx)]
        parts = [f"<p>{html.escape(line)}</p>" for line in lines]
        if t.get("button") and ctx.get("link"):  # a join button (R-BILL-10: the ticket e-mail)
            parts.insert(
                2,
                f'<p><a href="{html.escape(ctx["link"], quote=True)}" style="{BUTTON_STYLE}">'
                f"{html.escape(t['button'])}</a></p>",
            )
    if ctx.get("signature"):
        lines += ["--", ctx["signature"]]
        parts.append(f"<p>--<br>{html.escape(ctx['signature'])}</p>")
    return subject, "\n\n".join(lines) + "\n", "<html><body>" + "".join(parts) + "</body></html>"


def _invitation(t: dict[str, Any], language: str, ctx: dict[str, Any]) -> tuple[list[str], list[str]]:
    ctx = {**ctx, "role_text": t["roles"].get(ctx.get("role", "attendee"), "")}
    lines = [_fmt(t["greeting"], ctx), _fmt(t["intro"], ctx)]
    parts = [f"<p>{html.escape(line)}</p>" for line in lines]
    texts = BLOCK_TEXT[language]
    for block in ctx.get("blocks") or DEFAULT_BLOCKS:
        name = block.get("type") if isinstance(block, dict) else block
        if name == "logo" and ctx.get("logo"):
            parts.insert(0, f'<p><img src="{html.escape(ctx["logo"])}" alt="logo"></p>')
        elif name == "token" and not ctx.get("token"):
            continue
        elif name == "dial_in" and not ctx.get("numbers"):
            continue
        elif name == "agenda" and not ctx.get("agenda"):
            continue
        elif name in ("text", "url", "image") and isinstance(block, dict):
            value = str(block.get("value", ""))
            lines.append(value)
            parts.append(
                f'<p><img src="{html.escape(value)}" alt=""></p>'
                if name == "image"
                else f'<p><a href="{html.escape(value)}">{html.escape(value)}</a></p>'
                if name == "url"
                else f"<p>{html.escape(value)}</p>"
            )
        elif name == "buttons" and ctx.get("link"):
            accept, decline, calendar = BUTTONS[language]
            buttons = [
                f'<a href="{html.escape(ctx["link"], quote=True)}" style="{BUTTON_STYLE}">'
                f"{html.escape(accept)}</a>"
            ]
            lines.append(_fmt(texts[name], ctx) if ctx.get("decline_link") else _fmt(texts["link"], ctx))
            for key, label in (("decline_link", decline), ("calendar_link", calendar)):
                if ctx.get(key):
                    buttons.append(
                        f'<a href="{html.escape(ctx[key], quote=True)}" style="{SECOND_BUTTON}">'
                        f"{html.escape(label)}</a>"
                    )
            if ctx.get("calendar_link"):
                lines.append(_fmt(texts["calendar"], ctx))
            parts.append("<p>" + " ".join(buttons) + "</p>")
        elif name in texts:
            line = _fmt(texts[name], ctx)
            lines.append(line)
            parts.append(f"<p>{html.escape(line)}</p>")
    if ctx.get("password_note"):
        lines.append(_fmt(texts["password"], ctx))
    return lines, parts


async def queue(
    s: AsyncSession, account_id: int | None, kind: str, to: str, language: str, ctx: dict[str, Any]
) -> Email:
    """Put a mail in the outbox, in the caller's transaction: it is sent only if that transaction commits."""
    subject, text, body_html = render(kind, language, ctx)
    row = Email(
        account_id=account_id, kind=kind, to_addr=to, subject=subject, body_text=text, body_html=body_html
    )
    s.add(row)
    await s.flush()
    return row


class Mailer:
    """Sends outbox rows over SMTP; without an smtp_host, each mail is written to a file of its own in
    ``spool`` (data_dir/mail: the directory mode 0700, the files 0600), for the operator of a single-node
    install to read: activation links are secrets, the log gets only the recipient and the subject (issue 14
    finding 12)."""

    def __init__(
        self, host: str, port: int, user: str, password: str, tls: str, sender: str, spool: Path
    ) -> None:
        self.host, self.port, self.user, self.password, self.tls, self.sender = (
            host,
            port,
            user,
            password,
            tls,
            sender,
        )
        self.spool = spool

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def message(self, row: Email) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, row.to_addr, row.subject
        msg["Message-ID"] = f"<mail-{row.id}.{int(row.created_at.timestamp())}@mediaserver>"
        msg.set_content(row.body_text)
        msg.add_alternative(row.body_html, subtype="html")
        return msg

    def keep(self, row: Email) -> Path:
        """Write the mail (RFC 5322, as it would have been sent) to the spool; returns its file."""
        self.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.spool / f"{row.id:06d}-{row.kind}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(self.message(row)))
        return path

    async def send(self, row: Email) -> None:
        import aiosmtplib

        await aiosmtplib.send(
            self.message(row),
            # issue 14 finding 14: the envelope names the one recipient of the row, never what a To header
            # could list (aiosmtplib would otherwise send to every address it finds there)
            recipients=[row.to_addr],
            hostname=self.host,
            port=self.port,
            username=self.user or None,
            password=self.password or None,
            use_tls=self.tls == "tls",
            start_tls=True if self.tls == "starttls" else False,
            timeout=30,
        )


def backoff(attempts: int, base: float) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600.0, base * 2 ** max(0, attempts - 1)))
