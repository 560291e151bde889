"""A fake WeCom: a small app that speaks the documented server API endpoints Siyu calls, keeps what
they change in memory, and sends signed, encrypted callbacks to a callback URL as WeCom does.

Tests and the demo run it on loopback (`serve_fake()` in a thread with uvicorn) and point
`SIYU_WECOM_API_BASE` / `WeComClient(base_url=…)` at it. Failures can be queued to exercise the
client: `fail_next(path, errcode)` answers the next call to a path with that WeCom error code, and
`expire_tokens()` makes every issued token invalid (42001) as if its two hours were up.
"""

from __future__ import annotations

import io
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import segno
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siyu.wecom.crypto import WeComCrypto, signature

# The per-customer code the fake answers when a customer was already transferred twice in 90 days.
TRANSFER_LIMIT_ERRCODE = 40201
TRANSFER_WINDOW_S = 90 * 86400


@dataclass
class FakeWeCom:
    """The state of one fake corp."""

    corp_id: str
    secret: str
    users: set[str] = field(default_factory=set)
    # The member directory: userid -> {"userid", "name", "department": [ids], "status"}
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # external_userid -> profile
    follows: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # userid -> customers
    contact_ways: dict[str, dict[str, Any]] = field(default_factory=dict)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    transfers: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: list[dict[str, Any]] = field(default_factory=list)
    tag_groups: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)  # media_id -> uploaded bytes
    marks: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    # (handover, takeover, external) -> [status, takeover_time]; 2 = waiting until settled by a test
    handovers: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    clock: Any = time.time

    # --- control (tests) -----------------------------------------------------------------------
    def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        """Answer the next `times` calls to `path` (e.g. "/gettoken") with a WeCom error code."""
        self.failures[path] += [errcode] * times

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired."""
        self.tokens.clear()

    def settle_transfers(self, status: int = 1) -> None:
        """Every waiting handover is now done (1) or refused by the customer (3), as WeCom does within 24 h."""
        for state in self.handovers.values():
            if state[0] == 2:
                state[0], state[1] = status, int(self.clock())

    def add_member(
        self, userid: str, name: str, departments: list[int] | None = None, status: int = 1
    ) -> None:
        """A member joins the corp's directory (通讯录); they may then add customers."""
        self.users.add(userid)
        self.members[userid] = {
            "userid": userid,
            "name": name,
            "department": list(departments or [1]),
            "status": status,
        }

    def remove_member(self, userid: str) -> None:
        """A member is deleted from the directory."""
        self.users.discard(userid)
        self.members.pop(userid, None)

    def add_contact(self, userid: str, external_userid: str, name: str) -> None:
        """A customer becomes a friend of a staff member (what WeCom knows before it calls back)."""
        self.users.add(userid)
        self.contacts.setdefault(
            external_userid, {"external_userid": external_userid, "name": name, "type": 1}
        )
        self.follows[userid].add(external_userid)

    # --- the API -------------------------------------------------------------------------------
    def app(self) -> Starlette:
        """The ASGI app under /cgi-bin."""
        routes = [
            Route("/cgi-bin/gettoken", self._gettoken, methods=["GET"]),
            Route("/cgi-bin/user/list_id", self._member_ids, methods=["POST"]),
            Route("/cgi-bin/user/get", self._member, methods=["GET"]),
            Route("/cgi-bin/externalcontact/get", self._contact, methods=["GET"]),
            Route("/cgi-bin/externalcontact/list", self._contacts, methods=["GET"]),
            Route("/cgi-bin/externalcontact/add_contact_way", self._add_way, methods=["POST"]),
            Route("/cgi-bin/externalcontact/update_contact_way", self._update_way, methods=["POST"]),
            Route("/cgi-bin/externalcontact/send_welcome_msg", self._welcome, methods=["POST"]),
            Route("/cgi-bin/externalcontact/transfer_customer", self._transfer, methods=["POST"]),
            Route("/cgi-bin/externalcontact/resigned/transfer_customer", self._transfer, methods=["POST"]),
            Route("/cgi-bin/externalcontact/transfer_result", self._transfer_result, methods=["POST"]),
            Route(
                "/cgi-bin/externalcontact/resigned/transfer_result", self._transfer_result, methods=["POST"]
            ),
            Route("/cgi-bin/externalcontact/groupchat/list", self._group_list, methods=["POST"]),
            Route("/cgi-bin/externalcontact/groupchat/get", self._group_get, methods=["POST"]),
            Route("/cgi-bin/externalcontact/add_msg_template", self._template, methods=["POST"]),
            Route("/cgi-bin/externalcontact/get_corp_tag_list", self._tag_list, methods=["POST"]),
            Route("/cgi-bin/externalcontact/add_corp_tag", self._add_tag, methods=["POST"]),
            Route("/cgi-bin/externalcontact/mark_tag", self._mark_tag, methods=["POST"]),
            Route("/cgi-bin/media/upload", self._upload, methods=["POST"]),
            Route("/fake-qr/{config_id}.png", self._qr_image, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    def _begin(self, request: Request, *, needs_token: bool = True) -> JSONResponse | None:
        path = request.url.path.removeprefix("/cgi-bin")
        self.calls[path] += 1
        if self.failures[path]:
            code = self.failures[path].pop(0)
            return JSONResponse({"errcode": code, "errmsg": "injected"})
        if needs_token:
            token = request.query_params.get("access_token", "")
            expires = self.tokens.get(token)
            if expires is None:
                return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
            if expires < self.clock():
                return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        return None

    @staticmethod
    def _ok(**body: Any) -> JSONResponse:
        return JSONResponse({"errcode": 0, "errmsg": "ok", **body})

    async def _gettoken(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request, needs_token=False)) is not None:
            return refused
        q = request.query_params
        if q.get("corpid") != self.corp_id or q.get("corpsecret") != self.secret:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + 7200
        return self._ok(access_token=token, expires_in=7200)

    async def _member_ids(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        rows = [
            {"userid": userid, "department": department}
            for userid, member in sorted(self.members.items())
            for department in member["department"]
        ]
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 10_000)
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return self._ok(dept_user=rows[start : start + limit], next_cursor=cursor)

    async def _member(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        member = self.members.get(request.query_params.get("userid", ""))
        if member is None:
            return JSONResponse({"errcode": 60111, "errmsg": "userid not found"})
        return self._ok(**member)

    async def _contact(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        external = request.query_params.get("external_userid", "")
        if external not in self.contacts:
            return JSONResponse({"errcode": 84061, "errmsg": "not external contact"})
        follow = [
            {"userid": u, "state": ""} for u, customers in self.follows.items() if external in customers
        ]
        return self._ok(external_contact=self.contacts[external], follow_user=follow)

    async def _contacts(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        return self._ok(
            external_userid=sorted(self.follows.get(request.query_params.get("userid", ""), set()))
        )

    async def _add_way(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        unknown = [u for u in body.get("user", []) if u not in self.users]
        if unknown or not body.get("user"):
            return JSONResponse({"errcode": 60111, "errmsg": f"userid not found: {unknown}"})
        config_id = secrets.token_hex(16)
        self.contact_ways[config_id] = {
            "state": body.get("state", ""),
            "user": list(body["user"]),
            "type": body.get("type"),
        }
        # WeCom answers the address of the code's image; the fake serves a real QR image itself.
        return self._ok(config_id=config_id, qr_code=f"{request.base_url}fake-qr/{config_id}.png")

    async def _update_way(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        way = self.contact_ways.get(body.get("config_id", ""))
        if way is None:
            return JSONResponse({"errcode": 41044, "errmsg": "invalid config_id"})
        if "user" in body:
            way["user"] = list(body["user"])
        if "state" in body:
            way["state"] = body["state"]
        if "remark" in body:
            way["remark"] = body["remark"]
        return self._ok()

    async def _upload(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        form = await request.form()
        upload = form.get("media")
        if request.query_params.get("type") != "image" or upload is None or isinstance(upload, str):
            return JSONResponse({"errcode": 40004, "errmsg": "invalid media type"})
        content = await upload.read()
        media_id = f"fake-media-{secrets.token_hex(8)}"
        self.media[media_id] = content
        return self._ok(type="image", media_id=media_id, created_at=str(int(self.clock())))

    async def _qr_image(self, request: Request) -> Response:
        config_id = request.path_params["config_id"]
        way = self.contact_ways.get(config_id)
        if way is None:
            return Response(status_code=404)
        buffer = io.BytesIO()
        segno.make(f"https://work.weixin.qq.com/ca/{config_id}", error="m").save(buffer, kind="png", scale=8)
        return Response(buffer.getvalue(), media_type="image/png")

    async def _welcome(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        self.welcomes.append(await request.json())
        return self._ok()

    async def _transfer(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        now = self.clock()
        results = []
        for external in body.get("external_userid", []):
            recent = [t for t in self.transfers[external] if now - t < TRANSFER_WINDOW_S]
            if external not in self.follows.get(body.get("handover_userid", ""), set()):
                results.append({"external_userid": external, "errcode": 40096})
            elif len(recent) >= 2:
                results.append({"external_userid": external, "errcode": TRANSFER_LIMIT_ERRCODE})
            else:
                self.transfers[external] = [*recent, now]
                self.handovers[(body["handover_userid"], body["takeover_userid"], external)] = [2, 0]
                self.follows[body["handover_userid"]].discard(external)
                self.follows[body["takeover_userid"]].add(external)
                results.append({"external_userid": external, "errcode": 0})
        return self._ok(customer=results)

    async def _transfer_result(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        customers = [
            {"external_userid": ext, "status": state[0], "takeover_time": state[1]}
            for (handover, takeover, ext), state in sorted(self.handovers.items())
            if handover == body.get("handover_userid") and takeover == body.get("takeover_userid")
        ]
        return self._ok(customer=customers, next_cursor="")

    async def _group_list(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        owners = set((body.get("owner_filter") or {}).get("userid_list") or [])
        chats = sorted(c for c, g in self.groups.items() if not owners or g["owner"] in owners)
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 100)
        page = chats[start : start + limit]
        cursor = str(start + limit) if start + limit < len(chats) else ""
        return self._ok(group_chat_list=[{"chat_id": c, "status": 0} for c in page], next_cursor=cursor)

    async def _group_get(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        group = self.groups.get(body.get("chat_id", ""))
        if group is None:
            return JSONResponse({"errcode": 40050, "errmsg": "chatid not found"})
        return self._ok(group_chat={"chat_id": body["chat_id"], **group})

    async def _template(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        self.templates.append(await request.json())
        return self._ok(fail_list=[], msgid=f"msg{len(self.templates)}")

    async def _tag_list(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        return self._ok(tag_group=self.tag_groups)

    async def _add_tag(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        body = await request.json()
        group = next((g for g in self.tag_groups if g["group_name"] == body.get("group_name")), None)
        if group is None:
            group = {"group_id": f"et{secrets.token_hex(6)}", "group_name": body.get("group_name"), "tag": []}
            self.tag_groups.append(group)
        for t in body.get("tag", []):
            group["tag"].append({"id": f"et{secrets.token_hex(8)}", "name": t["name"]})
        return self._ok(tag_group=group)

    async def _mark_tag(self, request: Request) -> JSONResponse:
        if (refused := self._begin(request)) is not None:
            return refused
        self.marks.append(await request.json())
        return self._ok()

    # --- callbacks -----------------------------------------------------------------------------
    def callback(
        self, url: str, *, token: str, aes_key: str, xml: str, client: httpx.Client | None = None
    ) -> httpx.Response:
        """POST one event to a callback URL, encrypted and signed as WeCom does."""
        crypto = WeComCrypto(token=token, encoding_aes_key=aes_key, receive_id=self.corp_id)
        encrypted = crypto.encrypt(xml)
        timestamp, nonce = str(int(self.clock())), secrets.token_hex(5)
        body = f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        params = {
            "msg_signature": signature(token, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        sender = client or httpx.Client(timeout=10.0)
        return sender.post(url, params=params, content=body.encode(), headers={"Content-Type": "text/xml"})


def event_xml(
    corp_id: str, event: str, at: int, fields: dict[str, str], items: dict[str, list[str]] | None = None
) -> str:
    """The XML of a WeCom event: the common header, its fields, and list fields as <Item>s."""
    header = {
        "ToUserName": corp_id,
        "FromUserName": "sys",
        "CreateTime": str(at),
        "MsgType": "event",
        "Event": event,
    }
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in {**header, **fields}.items())
    for name, values in (items or {}).items():
        inner += f"<{name}>" + "".join(f"<Item><![CDATA[{v}]]></Item>" for v in values) + f"</{name}>"
    return f"<xml>{inner}</xml>"


def contact_event(
    corp_id: str,
    change_type: str,
    *,
    userid: str,
    external_userid: str,
    at: int,
    state: str = "",
    welcome_code: str = "",
    **extra: str,
) -> str:
    """The XML of a change_external_contact event."""
    fields = {
        "ChangeType": change_type,
        "UserID": userid,
        "ExternalUserID": external_userid,
        **({"State": state} if state else {}),
        **({"WelcomeCode": welcome_code} if welcome_code else {}),
        **extra,
    }
    return event_xml(corp_id, "change_external_contact", at, fields)


def chat_event(
    corp_id: str,
    chat_id: str,
    change_type: str,
    *,
    at: int,
    detail: str = "",
    members: list[str] | None = None,
    **extra: str,
) -> str:
    """The XML of a change_external_chat event (members: the MemChangeList)."""
    fields = {
        "ChatId": chat_id,
        "ChangeType": change_type,
        **({"UpdateDetail": detail} if detail else {}),
        **extra,
    }
    if members is not None:
        fields["MemChangeCnt"] = str(len(members))
    return event_xml(
        corp_id,
        "change_external_chat",
        at,
        fields,
        {"MemChangeList": members} if members is not None else None,
    )


def member_event(
    corp_id: str,
    change_type: str,
    *,
    userid: str,
    at: int,
    name: str = "",
    departments: list[int] | None = None,
    new_userid: str = "",
    status: int | None = None,
) -> str:
    """The XML of a change_contact member event (create_user, update_user, delete_user); WeCom
    sends `Department` as comma-separated ids and `NewUserID` when a UserID changes."""
    fields = {
        "ChangeType": change_type,
        "UserID": userid,
        **({"NewUserID": new_userid} if new_userid else {}),
        **({"Name": name} if name else {}),
        **({"Department": ",".join(str(d) for d in departments)} if departments is not None else {}),
        **({"Status": str(status)} if status is not None else {}),
    }
    return event_xml(corp_id, "change_contact", at, fields)


def tag_event(corp_id: str, change_type: str, tag_id: str, *, at: int) -> str:
    """The XML of a change_external_tag event."""
    return event_xml(
        corp_id, "change_external_tag", at, {"Id": tag_id, "TagType": "tag", "ChangeType": change_type}
    )


@contextmanager
def serve_fake(fake: FakeWeCom) -> Iterator[str]:
    """Run the fake on a free loopback port in a thread; yields its API base URL (…/cgi-bin)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-wecom", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake WeCom did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/cgi-bin"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
