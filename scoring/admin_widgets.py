"""Widgets of the definition builder rendered in Python.

A definition page holds some 30 inline forms and 600 widgets; each Django
widget renders a template (and a select one more per option), and those
renders were nine tenths of the page's server time. These produce the same
HTML as Django's own templates for the attributes the admin sets.
"""

from html import escape

from django import forms
from django.contrib.admin import helpers
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe


def flatatt(attrs) -> str:
    """Django's flatatt, without a format_html per attribute. (The standard
    library's escape is Django's, without its check for lazy strings.)"""
    return mark_safe(  # noqa: S308 every value is escaped
        "".join(
            f" {key}" if value is True else f' {key}="{escape(str(value))}"'
            for key, value in attrs.items()
            if value is not None and value is not False
        )
    )


class QuickInputMixin:
    input_type: str

    def render(self, name, value, attrs=None, renderer=None):
        return self.html(name, self.format_value(value), self.build_attrs(self.attrs, attrs))

    def html(self, name, shown, attrs) -> str:
        value = f' value="{conditional_escape(shown)}"' if shown is not None else ""
        return mark_safe(  # noqa: S308 the name, the value and every attribute are escaped
            f'<input type="{self.input_type}" name="{escape(name)}"{value}{flatatt(attrs)}>'
        )


class QuickTextInput(QuickInputMixin, forms.TextInput):
    pass


class QuickNumberInput(QuickInputMixin, forms.NumberInput):
    pass


class QuickHiddenInput(QuickInputMixin, forms.HiddenInput):
    pass


class QuickCheckboxInput(QuickInputMixin, forms.CheckboxInput):
    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        if self.check_test(value):
            attrs["checked"] = True
        return self.html(name, self.format_value(value), attrs)


class QuickSelect(forms.Select):
    """A select whose options are rendered once per set of choices: a page
    of 20 criteria has some 700 options of a dozen distinct kinds."""

    _options: tuple[list, list[tuple[str, str, str]]] | None = None

    def options_html(self) -> list[tuple[str, str, str]] | None:
        """Each option as (value, its tag up to the selected mark, the rest);
        None when the choices have groups (rendered as Django does)."""
        if self._options is None or self._options[0] != self.choices:
            choices = list(self.choices)
            if any(isinstance(label, list | tuple) for _value, label in choices):
                return None
            rendered = []
            for value, label in choices:
                shown = "" if value is None else str(value)
                rendered.append(
                    (shown, f'<option value="{escape(shown)}"', f">{conditional_escape(str(label))}</option>")
                )
            self._options = (choices, rendered)
        return self._options[1]

    def render(self, name, value, attrs=None, renderer=None):
        options = self.options_html()
        if options is None:
            return super().render(name, value, attrs, renderer)
        chosen = set(self.format_value(value))
        parts, selected = [], False
        for shown, start, end in options:
            if not selected and shown in chosen:
                parts.append(f"{start} selected{end}")
                selected = True
            else:
                parts.append(start + end)
        return mark_safe(  # noqa: S308 each option and attribute is escaped
            f'<select name="{escape(name)}"{flatatt(self.build_attrs(self.attrs, attrs))}>{"".join(parts)}</select>'
        )


class QuickMediaFormSet(helpers.InlineAdminFormSet):
    """An inline whose forms bring no media of their own (these widgets have
    none), so it skips merging the media of every form: a tenth of the page."""

    @property
    def media(self):
        return self.opts.media + self.formset.media


def quick_widgets(model, names, **attrs) -> dict:
    """Meta.widgets for a model form: each field's usual widget, rendered in Python."""
    found: dict[str, forms.Widget] = {}
    for name in names:
        field = model._meta.get_field(name)
        extra = attrs.get(name, {})
        if field.primary_key:
            found[name] = QuickHiddenInput(attrs=extra)
        elif field.choices:
            found[name] = QuickSelect(attrs=extra)
        elif field.get_internal_type() == "BooleanField":
            found[name] = QuickCheckboxInput(attrs=extra)
        elif field.get_internal_type() in ("IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"):
            found[name] = QuickNumberInput(attrs=extra)
        else:
            found[name] = QuickTextInput(attrs=extra)
    return found
