"""Administration of people in the console: staff accounts (role, stores, WeCom UserID, password,
departure), what each role may do and see, and the brand's API keys (shown once, revocable)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from siyu.access import ROLE_PERMISSIONS, ROLE_SCOPE, Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.auth import service as auth_service
from siyu.console.forms import Posted, domain_message, field_errors, text, texts
from siyu.console.rendering import (
    brand_zone,
    console_router,
    forbidden,
    lang_of,
    not_found_page,
    page_principal,
    redirect_with_toast,
    render,
)
from siyu.console.tables import paging
from siyu.core.errors import DomainError
from siyu.core.inputs import id_or_none
from siyu.core.phone import mask_phone
from siyu.org import schemas as org_schemas
from siyu.org import service as org_service
from siyu.org.models import Staff

router = console_router()
ROLES = ("owner", "hq_operator", "analyst", "store_manager", "guide")
# The permission matrix groups permissions by what a person does.
PERMISSION_LABELS: dict[Perm, tuple[str, str]] = {
    Perm.TENANT_READ: ("查看品牌信息", "See the brand"),
    Perm.TENANT_WRITE: ("修改品牌设置", "Change brand settings"),
    Perm.ORG_READ: ("查看门店和区域", "See stores and regions"),
    Perm.ORG_WRITE: ("管理门店和区域", "Manage stores and regions"),
    Perm.STAFF_READ: ("查看员工", "See staff"),
    Perm.STAFF_WRITE: ("管理员工账号", "Manage staff accounts"),
    Perm.API_KEYS: ("管理 API 密钥", "Manage API keys"),
    Perm.CUSTOMERS_READ: ("查看客户", "See customers"),
    Perm.CUSTOMERS_WRITE: ("修改客户资料", "Change customer profiles"),
    Perm.CUSTOMERS_UPSERT: ("批量写入客户", "Write customers in bulk"),
    Perm.CUSTOMERS_MERGE: ("合并客户", "Merge customers"),
    Perm.CUSTOMERS_EXPORT: ("导出客户和订单", "Export customers and orders"),
    Perm.PHONE_REVEAL: ("查看完整手机号", "See full phone numbers"),
    Perm.CONSENT_WRITE: ("记录授权", "Record consent"),
    Perm.FIELDS_WRITE: ("管理自定义字段", "Manage custom fields"),
    Perm.AUDIT_READ: ("查看操作日志", "Read the audit log"),
    Perm.IMPORT: ("导入数据", "Import data"),
    Perm.PRODUCTS_READ: ("查看商品", "See products"),
    Perm.PRODUCTS_WRITE: ("管理商品", "Manage products"),
    Perm.ORDERS_READ: ("查看订单", "See orders"),
    Perm.ORDERS_WRITE: ("写入订单和退款", "Write orders and refunds"),
    Perm.REPORTS_READ: ("查看报表", "See reports"),
    Perm.BINDINGS_WRITE: ("绑定专属导购", "Bind exclusive guides"),
    Perm.WECOM_MANAGE: ("配置企业微信", "Configure WeCom"),
    Perm.TAGS_READ: ("查看标签", "See tags"),
    Perm.TAGS_MANAGE: ("管理标签", "Manage tags"),
    Perm.TAGS_ASSIGN: ("给客户打标签", "Tag customers"),
    Perm.AUDIENCES_READ: ("查看人群", "See audiences"),
    Perm.AUDIENCES_WRITE: ("管理人群", "Manage audiences"),
    Perm.WECOM_CODES: ("管理渠道活码", "Manage channel codes"),
    Perm.GROUPS_READ: ("查看客户群", "See customer groups"),
    Perm.GROUPS_WRITE: ("管理客户群", "Manage customer groups"),
    Perm.WECOM_TRANSFER: ("离职/在职继承", "Hand customers over"),
    Perm.JOBS_MANAGE: ("查看和重试后台任务", "See and retry background jobs"),
    Perm.LOYALTY_READ: ("查看积分、储值和冻结", "See points, stored value and holds"),
    Perm.LOYALTY_WRITE: ("充值、消费、冻结与结算（收银）", "Top up, spend, hold and capture (checkout)"),
    Perm.LOYALTY_CARDS: ("开通会员卡", "Open member cards"),
    Perm.LOYALTY_CONFIGURE: ("设置会员规则与等级", "Set the loyalty rules and tiers"),
    Perm.LOYALTY_LIABILITY: ("查看会员资产负债", "See what the brand owes its members"),
    Perm.LOYALTY_ADJUST: (
        "手工调整积分、冲正交易（留痕）",
        "Adjust points and reverse transactions (audited)",
    ),
}


def _guard(request: Request, perm: Perm) -> Principal | HTMLResponse:
    principal = page_principal(request)
    return principal if principal.can(perm) else forbidden(request, perm)


# --- roles ----------------------------------------------------------------------------------------
@router.get("/settings/roles", response_class=HTMLResponse)
@read_only
def roles_page(request: Request) -> HTMLResponse:
    """Each role's permissions and data scope (roles are fixed; people are given one)."""
    principal = _guard(request, Perm.STAFF_READ)
    if isinstance(principal, HTMLResponse):
        return principal
    en = lang_of(request) == "en"
    rows = [
        (
            PERMISSION_LABELS[p][1] if en else PERMISSION_LABELS[p][0],
            [p in ROLE_PERMISSIONS[r] for r in ROLES],
        )
        for p in Perm
    ]
    return render(
        request, "settings_roles.html", roles=ROLES, rows=rows, scopes=[ROLE_SCOPE[r] for r in ROLES]
    )


# --- staff ----------------------------------------------------------------------------------------
@router.get("/settings/staff", response_class=HTMLResponse)
@read_only
def staff_page(request: Request) -> HTMLResponse:
    """Staff with role, stores, WeCom UserID and status; filters by role, store, status and name."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    db = request.state.db
    params = request.query_params
    role = params.get("role") if params.get("role") in ROLES else None
    status = params.get("status") if params.get("status") in ("active", "departed") else None
    stores = org_service.all_stores(db, tenant_id=principal.tenant_id)
    store_id = id_or_none(params.get("store"))
    store_id = store_id if store_id in {s.id for s in stores} else None
    q = (params.get("q") or "").strip().lower()
    everyone = org_service.all_staff(db, tenant_id=principal.tenant_id)
    their_stores = org_service.staff_store_ids(
        db, tenant_id=principal.tenant_id, staff_ids=[m.id for m in everyone]
    )
    shown = [
        m
        for m in everyone
        if (role is None or m.role == role)
        and (status is None or m.status == status)
        and (store_id is None or store_id in their_stores[m.id])
        and (not q or q in m.name.lower() or q == m.employee_no.lower() or q == m.username.lower())
    ]
    page = paging(params.get("page"), params.get("size"), len(shown))
    return render(
        request,
        "settings_staff.html",
        rows=shown[page.offset : page.offset + page.size],
        page=page,
        their_stores=their_stores,
        store_names={s.id: f"{s.code} {s.name}" for s in stores},
        stores=[(s.id, f"{s.code} {s.name}") for s in stores],
        roles=ROLES,
        f={
            "role": role or "",
            "status": status or "",
            "store": str(store_id or ""),
            "q": params.get("q") or "",
        },
        mask=mask_phone,
    )


def _staff_form(
    request: Request,
    principal: Principal,
    member: Staff | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    db = request.state.db
    stores = org_service.all_stores(db, tenant_id=principal.tenant_id)
    shown: dict[str, Any] = {}
    if member is not None:
        shown = {
            "employee_no": member.employee_no,
            "username": member.username,
            "name": member.name,
            "role": member.role,
            "phone": member.phone_e164,
            "wecom_userid": member.wecom_userid,
            "store_ids": org_service.staff_store_ids(
                db, tenant_id=principal.tenant_id, staff_ids=[member.id]
            )[member.id],
        }
    if values is not None:
        shown.update(values)
    return render(
        request,
        "settings_staff_member.html",
        status=422 if errors else 200,
        member=member,
        v=shown,
        errors=errors or {},
        stores=[(s.id, f"{s.code} {s.name}", s.status) for s in stores],
        roles=ROLES,
        is_self=member is not None and member.id == principal.actor_id,
    )


def _read_staff(form: Any, *, new: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": text(form, "name", 80),
        "role": text(form, "role", 20),
        "phone": text(form, "phone", 32),
        "wecom_userid": text(form, "wecom_userid", 64),
        "store_ids": [i for x in texts(form, "store_ids") if (i := id_or_none(x)) is not None],
    }
    password = text(form, "password", 128)
    if password:
        values["password"] = password
    if new:
        values["employee_no"] = text(form, "employee_no", 40)
        values["username"] = text(form, "username", 64)
    return values


@router.get("/settings/staff/new", response_class=HTMLResponse)
@read_only
def staff_new(request: Request) -> HTMLResponse:
    """The form for a new staff account."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    return _staff_form(request, principal, None, values={"role": "guide", "store_ids": []})


@router.post("/settings/staff/new", response_class=HTMLResponse)
def staff_create(request: Request, form: Posted) -> Response:
    """Create a staff account."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    lang = lang_of(request)
    values = _read_staff(form, new=True)
    try:
        data = org_schemas.StaffCreate.model_validate(
            {k: v for k, v in values.items() if v is not None}, strict=False
        )
        member = org_service.create_staff(
            request.state.db, tenant_id=principal.tenant_id, data=data, actor=principal
        )
    except ValidationError as exc:
        return _staff_form(request, principal, None, values=values, errors=field_errors(exc, lang))
    except DomainError as exc:
        return _staff_form(request, principal, None, values=values, errors=_staff_refusal(exc, values, lang))
    return redirect_with_toast(f"/settings/staff/{member.id}", "created")


def _staff_refusal(exc: DomainError, values: dict[str, Any], lang: str) -> dict[str, str]:
    message = domain_message(exc, lang)
    if exc.code == "duplicate":
        value = str(exc.params.get("value", ""))
        for name in ("username", "employee_no", "wecom_userid"):
            if values.get(name) == value:
                return {name: message}
    if exc.code == "weak_password":
        return {"password": message}
    return {"": message}


def _load(request: Request, principal: Principal, staff_id: int) -> Staff | None:
    if staff_id > MAX_ID:
        return None
    try:
        return org_service.get_staff(request.state.db, tenant_id=principal.tenant_id, staff_id=staff_id)
    except DomainError:
        return None


@router.get("/settings/staff/{staff_id}", response_class=HTMLResponse)
@read_only
def staff_edit(request: Request, staff_id: int) -> HTMLResponse:
    """A staff member's form."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    member = _load(request, principal, staff_id)
    return _staff_form(request, principal, member) if member else not_found_page(request)


@router.post("/settings/staff/{staff_id}", response_class=HTMLResponse)
def staff_save(request: Request, staff_id: int, form: Posted) -> Response:
    """Save a staff member (a new password signs them out everywhere)."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    member = _load(request, principal, staff_id)
    if member is None:
        return not_found_page(request)
    lang = lang_of(request)
    values = _read_staff(form, new=False)
    try:
        data = org_schemas.StaffUpdate.model_validate(values, strict=False)
        org_service.update_staff(
            request.state.db, tenant_id=principal.tenant_id, staff_id=member.id, data=data, actor=principal
        )
    except ValidationError as exc:
        return _staff_form(request, principal, member, values=values, errors=field_errors(exc, lang))
    except DomainError as exc:
        return _staff_form(
            request, principal, member, values=values, errors=_staff_refusal(exc, values, lang)
        )
    return redirect_with_toast(f"/settings/staff/{member.id}", "saved")


@router.post("/settings/staff/{staff_id}/depart", response_class=HTMLResponse)
def staff_depart(request: Request, staff_id: int) -> Response:
    """Mark a staff member departed: they are signed out and cannot sign in (their customers are
    handed over on the departures page)."""
    principal = _guard(request, Perm.STAFF_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    member = _load(request, principal, staff_id)
    if member is None:
        return not_found_page(request)
    try:
        org_service.update_staff(
            request.state.db,
            tenant_id=principal.tenant_id,
            staff_id=member.id,
            data=org_schemas.StaffUpdate(status="departed"),
            actor=principal,
        )
    except DomainError as exc:
        return _staff_form(request, principal, member, errors={"": domain_message(exc, lang_of(request))})
    return redirect_with_toast(f"/settings/staff/{member.id}", "saved")


# --- API keys -------------------------------------------------------------------------------------
@router.get("/settings/api-keys", response_class=HTMLResponse)
@read_only
def api_keys_page(request: Request) -> HTMLResponse:
    """The brand's API keys: name, prefix, created, last used, revoked."""
    principal = _guard(request, Perm.API_KEYS)
    if isinstance(principal, HTMLResponse):
        return principal
    return _keys_page(request, principal)


def _keys_page(
    request: Request,
    principal: Principal,
    *,
    created: str | None = None,
    errors: dict[str, str] | None = None,
    name: str | None = None,
) -> HTMLResponse:
    keys = auth_service.list_api_keys(request.state.db, tenant_id=principal.tenant_id)
    return render(
        request,
        "settings_api_keys.html",
        status=422 if errors else 200,
        keys=keys,
        created=created,
        errors=errors or {},
        name=name,
        tz=brand_zone(request, principal),
    )


@router.post("/settings/api-keys", response_class=HTMLResponse)
def api_key_create(request: Request, form: Posted) -> Response:
    """Create a key and show it this once (only its hash is kept)."""
    principal = _guard(request, Perm.API_KEYS)
    if isinstance(principal, HTMLResponse):
        return principal
    name = text(form, "name", 80)
    if not name:
        message = "Give the key a name" if lang_of(request) == "en" else "请给密钥起个名字"
        return _keys_page(request, principal, errors={"name": message}, name=name)
    _, plaintext = auth_service.create_api_key(
        request.state.db, tenant_id=principal.tenant_id, name=name, actor=principal
    )
    response = _keys_page(request, principal, created=plaintext)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def api_key_revoke(request: Request, key_id: int) -> Response:
    """Revoke a key (integrations using it are refused from now on)."""
    principal = _guard(request, Perm.API_KEYS)
    if isinstance(principal, HTMLResponse):
        return principal
    if key_id > MAX_ID:
        return not_found_page(request)
    try:
        auth_service.revoke_api_key(
            request.state.db, tenant_id=principal.tenant_id, key_id=key_id, actor=principal
        )
    except DomainError:
        return not_found_page(request)
    return redirect_with_toast("/settings/api-keys", "revoked")
