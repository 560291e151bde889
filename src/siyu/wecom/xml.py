"""Callback XML, parsed safely: no DTDs, no entities, no external references (defusedxml)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from siyu.wecom.crypto import CallbackRefusedError

MAX_XML_BYTES = 64 * 1024


def parse(xml: str | bytes) -> dict[str, str]:
    """The callback's top-level fields as a dict (tag → text; a list field's items one per line);
    refuses DTDs, entities, huge bodies."""
    raw = xml.encode() if isinstance(xml, str) else xml
    if len(raw) > MAX_XML_BYTES:
        raise CallbackRefusedError("too_large")
    try:
        root: Element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise CallbackRefusedError("xml_dtd_or_entity") from None
    except ParseError:
        raise CallbackRefusedError("bad_xml") from None
    # Lists (MemChangeList's Items) become their items' texts, one per line.
    return {
        child.tag: "\n".join((item.text or "") for item in child) if len(child) else (child.text or "")
        for child in root
    }
