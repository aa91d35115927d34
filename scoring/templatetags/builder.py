"""The definition builder's inline forms, each field's box rendered in Python:
the template loops they replace were most of the page's time (20 criteria of
18 fields and 8 milestones of 9 fields is some 600 fields a page)."""

from html import escape

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst

register = template.Library()


def readonly_box(field) -> SafeString:
    return format_html(
        '<div class="fieldBox"><label>{}</label> <div class="readonly">{}</div></div>',
        capfirst(field.field["label"]),
        field.contents(),
    )


@register.filter
def builder_grid(fieldset) -> SafeString:
    """A criterion's fieldset as a grid of boxes: label and widget, the help
    text as a tooltip, the errors first."""
    parts: list[str] = []
    for line in fieldset:
        for field in line:
            if field.is_readonly:
                parts.append(readonly_box(field))
                continue
            bound = field.field
            errors = bound.errors
            classes = f"fieldBox field-{escape(bound.name)}"
            classes += (" errors" if errors else "") + (" checkbox-row" if field.is_checkbox else "")
            title = f' title="{conditional_escape(bound.help_text)}"' if bound.help_text else ""
            label = conditional_escape(capfirst(bound.label))
            for_id = escape(bound.id_for_label)
            if field.is_checkbox:
                inner = f'{bound} <label for="{for_id}" class="vCheckboxLabel">{label}</label>'
            else:
                required = ' class="required"' if bound.field.required else ""
                inner = f'<label for="{for_id}"{required}>{label}</label> {bound}'
            parts.append(f'<div class="{classes}"{title}>{errors if errors else ""}{inner}</div>')
    return mark_safe("".join(parts))  # noqa: S308 every value above is escaped or a rendered widget


@register.filter
def builder_cells(inline_admin_form) -> SafeString:
    """A milestone's fields as table cells, errors above each widget."""
    parts: list[str] = []
    for fieldset in inline_admin_form:
        for line in fieldset:
            for field in line:
                if field.is_readonly:
                    parts.append(format_html("<td><p>{}</p></td>", field.contents()))
                    continue
                bound = field.field
                hidden = " hidden" if bound.is_hidden else ""
                errors = bound.errors.as_ul() if bound.errors else ""
                parts.append(f'<td class="field-{escape(bound.name)}{hidden}">{errors}{bound}</td>')
    return mark_safe("".join(parts))  # noqa: S308 every value above is escaped or a rendered widget
