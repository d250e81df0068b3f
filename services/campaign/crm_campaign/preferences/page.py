"""The preference page, rendered on the server (no script, no login): the customer's consent per channel,
preferred channel and most contacts per month, as one form posted back to the same signed URL.

Jinja2 with autoescaping on: nothing from the customer service or the form is ever emitted unescaped."""

from __future__ import annotations

from dataclasses import dataclass, field

from jinja2 import Environment, select_autoescape

from crm_shared.clients.customer import ConsentWrite as Status

CHANNELS = ("email", "sms", "mail", "phone")
LABELS = {"email": "Email", "sms": "Text messages (SMS)", "mail": "Postal mail", "phone": "Phone calls"}

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), auto_reload=False)

_PAGE = _env.from_string(
    """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
{% if message %}<p role="status">{{ message }}</p>{% endif %}
{% if errors %}<ul role="alert">{% for name, detail in errors.items() %}
<li id="error-{{ name }}">{{ name }}: {{ detail }}</li>{% endfor %}</ul>{% endif %}
{% if form %}
<form method="post" action="{{ action }}">
<fieldset><legend>How may we contact you?</legend>
{% for channel in channels %}
<label><input type="checkbox" name="consent_{{ channel }}" value="on"
{%- if form.consents.get(channel) == "opted_in" %} checked{% endif %}> {{ labels[channel] }}</label><br>
{% endfor %}
</fieldset>
<label for="preferred_channel">Preferred channel</label>
<select id="preferred_channel" name="preferred_channel">
<option value=""{% if not form.preferred_channel %} selected{% endif %}>No preference</option>
{% for channel in channels %}<option value="{{ channel }}"
{%- if form.preferred_channel == channel %} selected{% endif %}>{{ labels[channel] }}</option>
{% endfor %}</select><br>
<label for="max_contacts_per_month">Most messages per month (empty: no limit, 0: none)</label>
<input id="max_contacts_per_month" name="max_contacts_per_month" inputmode="numeric"
 value="{{ '' if form.max_contacts_per_month is none else form.max_contacts_per_month }}"><br>
<button type="submit">Save my preferences</button>
</form>
{% endif %}
</main>
</body>
</html>
"""
)


@dataclass
class PreferenceForm:
    """What the page shows and the customer posts back. consents: channel -> opted_in/opted_out/unknown."""

    consents: dict[str, Status] = field(default_factory=dict)
    preferred_channel: str | None = None
    max_contacts_per_month: int | None = None


def render_page(
    *,
    action: str,
    form: PreferenceForm | None,
    title: str = "Your contact preferences",
    message: str | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    return _PAGE.render(
        title=title,
        action=action,
        form=form,
        message=message,
        errors=errors or {},
        channels=CHANNELS,
        labels=LABELS,
    )


def render_notice(title: str, message: str) -> str:
    """A page with a message and no form (an invalid link, the service unavailable, unsubscribed)."""
    return render_page(action="", form=None, title=title, message=message)


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_form(fields: dict[str, list[str]]) -> PreferenceForm:
    """The posted form (application/x-www-form-urlencoded, parsed) as a PreferenceForm, or FormErrors naming
    each bad field. An unticked box is absent from a form post: absent means opted out."""
    errors: dict[str, str] = {}
    known = {f"consent_{c}" for c in CHANNELS} | {"preferred_channel", "max_contacts_per_month"}
    for name in fields:
        if name not in known:
            errors[name] = "unknown field"
    consents: dict[str, Status] = {}
    for channel in CHANNELS:
        values = fields.get(f"consent_{channel}", [])
        if values not in ([], ["on"]):
            errors[f"consent_{channel}"] = "must be 'on' or absent"
        consents[channel] = "opted_in" if values else "opted_out"
    preferred = _single(fields, "preferred_channel", errors)
    if preferred and preferred not in CHANNELS:
        errors["preferred_channel"] = f"must be one of {', '.join(CHANNELS)} or empty"
    raw_max = _single(fields, "max_contacts_per_month", errors).strip()
    most: int | None = None
    if raw_max:
        if not raw_max.isdigit() or not 0 <= int(raw_max) <= 100:
            errors["max_contacts_per_month"] = "a whole number from 0 to 100, or empty"
        else:
            most = int(raw_max)
    if errors:
        raise FormErrors(errors)
    return PreferenceForm(consents=consents, preferred_channel=preferred or None, max_contacts_per_month=most)


def _single(fields: dict[str, list[str]], name: str, errors: dict[str, str]) -> str:
    values = fields.get(name, [])
    if len(values) > 1:
        errors[name] = "given more than once"
        return ""
    return values[0] if values else ""
