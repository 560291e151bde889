"""The WeCom server API as Siyu calls it (https://qyapi.weixin.qq.com/cgi-bin/…).

- **Token**: `gettoken` answers an access token valid `expires_in` seconds (7,200). One token per
  (API base, corp id, secret) is cached for the process and refreshed five minutes early, under a
  lock, so concurrent callers make one `gettoken` call, not one each. An answer saying the token is
  invalid or expired (40014, 42001, 40082) refreshes it and retries the call once.
- **Retries**: network errors, HTTP 5xx, "system busy" (-1) and the rate limits (45009 calls per
  minute, 45033 concurrent calls) are retried with exponential backoff, at most `attempts` times.
- Any other `errcode` raises `WeComApiError` with WeCom's code and message.

The base URL is a setting (`SIYU_WECOM_API_BASE`), so the fake WeCom (`siyu.wecom.fake`) stands in
for it in tests and in the demo.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_BASE = "https://qyapi.weixin.qq.com/cgi-bin"
TOKEN_ERRORS = {40014, 42001, 40082}
RETRY_ERRORS = {-1, 45009, 45033}
REFRESH_EARLY_S = 300


class WeComApiError(Exception):
    """WeCom answered with an error code."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"WeCom {path}: {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


@dataclass
class _Token:
    value: str
    expires_at: float


_TOKENS: dict[str, _Token] = {}
_TOKEN_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY = threading.Lock()


class WeComClient:
    """Calls for one corp and one app secret."""

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        base_url: str = DEFAULT_BASE,
        http: httpx.Client | None = None,
        attempts: int = 4,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(timeout=10.0)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.clock = clock
        self.key = hashlib.sha256(f"{self.base_url}|{corp_id}|{secret}".encode()).hexdigest()
        with _REGISTRY:
            self.lock = _TOKEN_LOCKS.setdefault(self.key, threading.Lock())
        self.calls = 0  # HTTP requests made (tests and benchmarks read it)

    # --- token ---------------------------------------------------------------------------------
    def token(self, *, force: bool = False, stale: str | None = None) -> str:
        """A valid access token (one refresh at a time; `stale` is the token WeCom just refused)."""
        with self.lock:
            cached = _TOKENS.get(self.key)
            fresh = cached is not None and cached.expires_at - REFRESH_EARLY_S > self.clock()
            if cached is not None and fresh and not force and cached.value != stale:
                return cached.value
            if cached is not None and stale is not None and cached.value != stale:
                return cached.value  # another caller already refreshed it
            answer = self._send(
                "GET", "/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
            )
            token = _Token(str(answer["access_token"]), self.clock() + int(answer.get("expires_in", 7200)))
            _TOKENS[self.key] = token
            return token.value

    # --- transport -----------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any],
        body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                self.calls += 1
                if files is not None:
                    response = self.http.request(method, self.base_url + path, params=params, files=files)
                else:
                    response = self.http.request(method, self.base_url + path, params=params, json=body)
                if response.status_code >= 500:
                    raise httpx.HTTPStatusError("server error", request=response.request, response=response)
                answer: dict[str, Any] = response.json()
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError):
                if attempt == self.attempts:
                    raise
                self.sleep(delay)
                delay *= 2
                continue
            code = int(answer.get("errcode", 0))
            if code in RETRY_ERRORS and attempt < self.attempts:
                self.sleep(delay)
                delay *= 2
                continue
            if code:
                raise WeComApiError(code, str(answer.get("errmsg", "")), path)
            return answer
        raise AssertionError("unreachable")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Call an API with the access token; a refused token is refreshed and the call retried once."""
        token = self.token()
        try:
            return self._send(method, path, params={**params, "access_token": token}, body=body, files=files)
        except WeComApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        token = self.token(stale=token)
        return self._send(method, path, params={**params, "access_token": token}, body=body, files=files)

    def upload_image(self, *, filename: str, content: bytes, content_type: str) -> str:
        """Upload an image as temporary media (`media/upload?type=image`, valid three days): its
        media_id."""
        answer = self.call(
            "POST", "/media/upload", files={"media": (filename, content, content_type)}, type="image"
        )
        return str(answer["media_id"])

    # --- the member directory (通讯录) ----------------------------------------------------------
    def list_member_ids(self, *, limit: int = 10_000) -> dict[str, list[int]]:
        """Every member's UserID with their department ids (`user/list_id`, pages followed; WeCom
        answers one row per member and department)."""
        members: dict[str, list[int]] = {}
        cursor = ""
        while True:
            answer = self.call("POST", "/user/list_id", {"cursor": cursor, "limit": limit})
            for row in answer.get("dept_user", []):
                departments = members.setdefault(str(row["userid"]), [])
                if row.get("department") is not None and int(row["department"]) not in departments:
                    departments.append(int(row["department"]))
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                return members

    def get_member(self, userid: str) -> dict[str, Any]:
        """One member's profile (`user/get`): name, departments, status (what the app may see)."""
        return self.call("GET", "/user/get", userid=userid)

    # --- customers (externalcontact) -----------------------------------------------------------
    def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        """A customer's profile and the staff who have them as a friend."""
        return self.call("GET", "/externalcontact/get", external_userid=external_userid)

    def list_external_contacts(self, userid: str) -> list[str]:
        """External user ids of one staff member's customers."""
        return list(self.call("GET", "/externalcontact/list", userid=userid).get("external_userid", []))

    def add_contact_way(
        self, *, state: str, users: list[str], remark: str = "", skip_verify: bool = True
    ) -> dict[str, Any]:
        """Create a channel QR code (联系我): answers config_id and qr_code."""
        body = {
            "type": 1 if len(users) == 1 else 2,
            "scene": 2,
            "remark": remark[:30],
            "skip_verify": skip_verify,
            "state": state,
            "user": users,
        }
        return self.call("POST", "/externalcontact/add_contact_way", body)

    def update_contact_way(
        self, *, config_id: str, users: list[str], state: str | None = None, remark: str | None = None
    ) -> None:
        """Point a channel code at other staff (rotation, caps, schedules), or rename it."""
        body: dict[str, Any] = {"config_id": config_id, "user": users}
        if state is not None:
            body["state"] = state
        if remark is not None:
            body["remark"] = remark[:30]
        self.call("POST", "/externalcontact/update_contact_way", body)

    def send_welcome_msg(
        self, *, welcome_code: str, text: str, attachments: list[dict[str, Any]] | None = None
    ) -> None:
        """The welcome message for a new friend (within 20 s of the add event, once): text, and up to
        nine attachments in WeCom's form (`{"msgtype": "image", "image": {"media_id"}}`, `link`,
        `miniprogram`)."""
        body: dict[str, Any] = {"welcome_code": welcome_code}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = attachments[:9]
        self.call("POST", "/externalcontact/send_welcome_msg", body)

    def transfer_customer(
        self, *, handover_userid: str, takeover_userid: str, external_userids: list[str], resigned: bool
    ) -> dict[str, int]:
        """Hand customers to another staff member (在职转接, or 离职继承 when `resigned`); errcode per customer."""
        path = (
            "/externalcontact/resigned/transfer_customer"
            if resigned
            else "/externalcontact/transfer_customer"
        )
        answer = self.call(
            "POST",
            path,
            {
                "handover_userid": handover_userid,
                "takeover_userid": takeover_userid,
                "external_userid": external_userids,
            },
        )
        return {str(c["external_userid"]): int(c.get("errcode", 0)) for c in answer.get("customer", [])}

    def transfer_result(
        self, *, handover_userid: str, takeover_userid: str, resigned: bool
    ) -> dict[str, tuple[int, int]]:
        """Where each handed-over customer stands: status (1 done, 2 waiting, 3 refused by the customer,
        4 the takeover is full, 5 no such transfer) and when it was taken over (pages followed)."""
        path = "/externalcontact/resigned/transfer_result" if resigned else "/externalcontact/transfer_result"
        found: dict[str, tuple[int, int]] = {}
        cursor = ""
        while True:
            answer = self.call(
                "POST",
                path,
                {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor},
            )
            for c in answer.get("customer", []):
                found[str(c["external_userid"])] = (int(c.get("status", 0)), int(c.get("takeover_time", 0)))
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                return found

    def list_group_chats(self, *, owners: list[str] | None = None, limit: int = 100) -> list[str]:
        """Every customer group's chat id (pages followed)."""
        chats: list[str] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {"status_filter": 0, "cursor": cursor, "limit": limit}
            if owners:
                body["owner_filter"] = {"userid_list": owners}
            answer = self.call("POST", "/externalcontact/groupchat/list", body)
            chats += [str(g["chat_id"]) for g in answer.get("group_chat_list", [])]
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                return chats

    def get_group_chat(self, chat_id: str) -> dict[str, Any]:
        """A customer group with its owner, members and notice."""
        return dict(
            self.call("POST", "/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})[
                "group_chat"
            ]
        )

    def add_msg_template(self, *, sender: str, external_userids: list[str], text: str) -> str:
        """A mass message for a guide to send to their customers (群发); answers the msgid."""
        answer = self.call(
            "POST",
            "/externalcontact/add_msg_template",
            {
                "chat_type": "single",
                "sender": sender,
                "external_userid": external_userids,
                "text": {"content": text},
            },
        )
        return str(answer.get("msgid", ""))

    # --- customer tags --------------------------------------------------------------------------
    def corp_tags(self) -> list[dict[str, Any]]:
        """The corp's customer tag groups with their tags."""
        return list(self.call("POST", "/externalcontact/get_corp_tag_list", {}).get("tag_group", []))

    def add_corp_tag(self, *, group_name: str, names: list[str]) -> dict[str, Any]:
        """Create tags in a (new or existing) group; answers the group with the tag ids."""
        body = {"group_name": group_name, "tag": [{"name": n} for n in names]}
        return dict(self.call("POST", "/externalcontact/add_corp_tag", body)["tag_group"])

    def mark_tag(self, *, userid: str, external_userid: str, add: list[str], remove: list[str]) -> None:
        """Tag or untag a customer as seen by one staff member."""
        body = {"userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove}
        self.call("POST", "/externalcontact/mark_tag", body)
