"""Images a brand sends through WeCom (welcome images, mini-program covers).

WeCom takes an image as temporary media valid for three days (`media/upload`). The bytes are kept in
`wecom_media`; a message that needs the image reuses the last media id while it is younger than
`REUSE` and uploads the bytes again otherwise, so a welcome message a month later still carries it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.wecom.client import WeComClient
from siyu.wecom.models import WeComMedia

MAX_BYTES = 2 * 1024 * 1024  # WeCom's limit for a mini-program cover; ample for a welcome image
REUSE = dt.timedelta(days=2, hours=12)  # media lives three days; a margin for clocks and slow sends
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def image_type(content: bytes) -> str | None:
    """The image type a file's first bytes declare (PNG or JPEG), else None."""
    for magic, kind in SIGNATURES.items():
        if content.startswith(magic):
            return kind
    return None


def store_image(session: Session, *, tenant_id: int, filename: str, content: bytes) -> WeComMedia:
    """Keep an uploaded image (PNG or JPEG up to 2 MB, read from its bytes, not its name)."""
    kind = image_type(content)
    if kind is None:
        raise DomainError(
            "invalid_image",
            reason_zh="只支持 PNG 或 JPG 图片",
            reason_en="only PNG or JPEG images are accepted",
        )
    if len(content) > MAX_BYTES:
        raise DomainError(
            "invalid_image", reason_zh="图片不能超过 2 MB", reason_en="the image is larger than 2 MB"
        )
    media = WeComMedia(
        tenant_id=tenant_id,
        filename=(filename or "image")[-120:],
        content_type=kind,
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        created_at=utcnow(),
    )
    session.add(media)
    session.flush()
    return media


def get_media(session: Session, *, tenant_id: int, media_id: int) -> WeComMedia:
    """An image of the brand, or not found."""
    media = session.scalar(
        select(WeComMedia).where(WeComMedia.tenant_id == tenant_id, WeComMedia.id == media_id)
    )
    if media is None:
        raise not_found("media")
    return media


def wecom_media_id(session: Session, client: WeComClient, media: WeComMedia) -> str:
    """The image's media id in WeCom: the cached one while fresh, else a new upload (cached)."""
    now = utcnow()
    if media.media_id and media.uploaded_at and now - media.uploaded_at < REUSE:
        return media.media_id
    media_id = client.upload_image(
        filename=media.filename, content=media.content, content_type=media.content_type
    )
    session.execute(
        update(WeComMedia).where(WeComMedia.id == media.id).values(media_id=media_id, uploaded_at=now)
    )
    return media_id


def attachments_for(
    session: Session, client: WeComClient, *, tenant_id: int, stored: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A code's stored attachments in WeCom's form, images uploaded as needed."""
    out: list[dict[str, Any]] = []
    for item in stored:
        kind = item.get("type")
        if kind == "link":
            link = {"title": item["title"], "url": item["url"]}
            if item.get("desc"):
                link["desc"] = item["desc"]
            out.append({"msgtype": "link", "link": link})
            continue
        media = get_media(session, tenant_id=tenant_id, media_id=int(item["media"]))
        media_id = wecom_media_id(session, client, media)
        if kind == "image":
            out.append({"msgtype": "image", "image": {"media_id": media_id}})
        elif kind == "miniprogram":
            out.append(
                {
                    "msgtype": "miniprogram",
                    "miniprogram": {
                        "title": item["title"],
                        "pic_media_id": media_id,
                        "appid": item["appid"],
                        "page": item["page"],
                    },
                }
            )
    return out
