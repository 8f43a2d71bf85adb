// The administrator's screen (PRODUCT.md §4: configuration, users, credentials, quarantine, audit
// log — never case content). One tab per task, addressed by the hash so that a tab can be
// bookmarked: #/admin/users, …/switchboards, …/codes, …/partners, …/quarantine, …/audit.
//
// A one-time password or a webhook secret is shown once, in a dialog; closing the dialog removes it
// from the page, and nothing here keeps it.
import { ApiError, api, get, patch, post, put, query } from "./api.js";
import { addStrings, label, lang, t } from "./i18n.js";
import { clear, field, fmtDateTime, fmtNumber, h, modal, select, table, toast, uid } from "./ui.js";

addStrings({
  vi: {
    "ad.title": "Quản trị",
    "ad.tabs": "Các mục quản trị",
    "ad.tab.users": "Người dùng và vai trò",
    "ad.tab.switchboards": "Tổng đài và khoá",
    "ad.tab.codes": "Danh mục mã",
    "ad.tab.partners": "Danh bạ đối tác",
    "ad.tab.quarantine": "Nội dung bị cách ly",
    "ad.tab.audit": "Nhật ký kiểm toán",
    "ad.all": "Tất cả",
    "ad.actions": "Thao tác",
    "ad.status": "Trạng thái",
    "ad.edit": "Sửa",
    "ad.confirm": "Xác nhận",
    "ad.refresh": "Làm mới",
    "ad.filter": "Lọc",
    "ad.nothing_changed": "Không có gì thay đổi.",
    "ad.err.field": "«{f}» chưa hợp lệ: {m}",
    "ad.err.conflict": "Không thực hiện được vì xung đột dữ liệu: {m}",
    "ad.board": "Tổng đài",
    "ad.national": "tổng đài quốc gia",
    "ad.always_open": "luôn mở",
    // one-time display
    "ad.once.warning":
      "Chỉ hiển thị MỘT LẦN. Sau khi đóng cửa sổ này sẽ không xem lại được — hệ thống không lưu bản đọc được.",
    "ad.once.copy": "Sao chép",
    "ad.once.copied": "Đã chép vào bộ nhớ tạm.",
    "ad.once.copy_failed": "Không chép tự động được: hãy chọn chuỗi ký tự và bấm Ctrl+C.",
    "ad.once.copy_hint": "Chọn chuỗi ký tự (bấm vào nó) rồi Ctrl+C, hoặc bấm «Sao chép».",
    "ad.once.done": "Tôi đã ghi lại — Đóng",
    // users
    "ad.users.title": "Người dùng và vai trò",
    "ad.users.add": "Thêm người dùng",
    "ad.users.count": "{n} người dùng",
    "ad.users.none": "Chưa có người dùng nào ở đây.",
    "ad.users.username": "Tên đăng nhập",
    "ad.users.username.hint": "Chữ thường không dấu, chữ số và . _ - (ví dụ lan.tran). Không đổi được về sau.",
    "ad.users.display_name": "Họ và tên",
    "ad.users.roles": "Vai trò",
    "ad.users.roles.none": "Chọn ít nhất một vai trò.",
    "ad.users.home": "Tổng đài chính",
    "ad.users.extensions": "Số máy lẻ theo tổng đài",
    "ad.users.extensions.hint": "Số máy người này nghe tại mỗi tổng đài, ví dụ PJSIP/1012. Để trống nếu không nghe máy ở đó.",
    "ad.users.extension_at": "Số máy lẻ tại {b}",
    "ad.users.languages": "Ngôn ngữ",
    "ad.users.languages.hint": "Mã ISO 639, cách nhau bởi dấu phẩy: vi, en, km, zh …",
    "ad.users.languages.bad": "Ngôn ngữ phải là các mã như vi, en, km, cách nhau bởi dấu phẩy.",
    "ad.users.active": "Tài khoản đang hoạt động",
    "ad.users.active.hint": "Bỏ chọn để khoá tài khoản: mọi phiên đăng nhập của người này kết thúc ngay.",
    "ad.users.self": "Đây là tài khoản của bạn: bạn không thể tự bỏ vai trò quản trị hay tự khoá mình.",
    "ad.users.state.active": "Đang hoạt động",
    "ad.users.state.disabled": "Đã khoá",
    "ad.users.created": "Đã tạo người dùng {u}.",
    "ad.users.saved": "Đã lưu thay đổi của {u}.",
    "ad.users.edit_title": "Sửa người dùng {u}",
    "ad.users.edit_label": "Sửa {u}",
    "ad.users.reset": "Đặt lại mật khẩu",
    "ad.users.reset_label": "Đặt lại mật khẩu của {u}",
    "ad.users.reset.confirm":
      "Đặt lại mật khẩu của {name} ({u})? Mật khẩu cũ hết hiệu lực và mọi phiên đăng nhập của họ kết thúc ngay. Mật khẩu mới chỉ hiện một lần.",
    "ad.users.revoke": "Kết thúc các phiên",
    "ad.users.revoke_label": "Kết thúc mọi phiên đăng nhập của {u}",
    "ad.users.revoke.confirm": "Kết thúc mọi phiên đăng nhập của {name} ({u})? Họ phải đăng nhập lại.",
    "ad.users.revoked": "Đã kết thúc mọi phiên của {u}.",
    "ad.users.taken": "Tên đăng nhập này đã có người dùng.",
    "ad.users.ext_taken": "Một số máy lẻ đã thuộc về người dùng khác ở tổng đài đó.",
    "ad.password.title": "Mật khẩu dùng một lần của {u}",
    "ad.password.lead":
      "Trao mật khẩu này trực tiếp cho {name} (gặp mặt hoặc gọi điện); không gửi qua tin nhắn hay thư điện tử. Ở lần đăng nhập đầu, bảng điều khiển sẽ yêu cầu người dùng chọn mật khẩu của riêng mình.",
    "ad.password.label": "Mật khẩu dùng một lần",
    // switchboards
    "ad.sb.title": "Tổng đài, khoá webhook và mạng được phép",
    "ad.sb.intro":
      "Mỗi tổng đài Asterisk gửi sự kiện với một khoá bí mật riêng; tối đa hai khoá cùng hiệu lực để đổi khoá không gián đoạn: cấp khoá mới, đặt vào tổng đài, rồi thu hồi khoá cũ.",
    "ad.sb.credentials": "Khoá webhook",
    "ad.sb.active_count": "Đang dùng {n}/2 khoá.",
    "ad.sb.cred.id": "Mã khoá",
    "ad.sb.cred.label": "Nhãn",
    "ad.sb.cred.created": "Cấp lúc",
    "ad.sb.cred.by": "Người cấp",
    "ad.sb.cred.active": "Đang dùng",
    "ad.sb.cred.revoked": "Đã thu hồi {t}",
    "ad.sb.cred.none": "Chưa có khoá nào đang dùng: tổng đài này chưa gửi được sự kiện.",
    "ad.sb.cred.revoked_list": "Khoá đã thu hồi ({n})",
    "ad.sb.issue": "Cấp khoá mới",
    "ad.sb.issue.label": "Nhãn (khoá dùng cho gì)",
    "ad.sb.issue.label.hint": "Ví dụ: relay, dialplan, ari-websocket.",
    "ad.sb.issue.full": "Đã đủ hai khoá đang dùng: thu hồi khoá cũ trước khi cấp khoá mới.",
    "ad.sb.revoke": "Thu hồi",
    "ad.sb.revoke_label": "Thu hồi khoá {id}",
    "ad.sb.revoke.title": "Thu hồi khoá {id}?",
    "ad.sb.revoke.confirm":
      "Mọi yêu cầu của {b} dùng khoá này sẽ bị từ chối trong vòng 5 giây. Hãy chắc rằng tổng đài đã chuyển sang khoá mới.",
    "ad.sb.revoked": "Đã thu hồi khoá {id}.",
    "ad.sb.secret.title": "Khoá webhook mới — {b}",
    "ad.sb.secret.label": "Khoá bí mật",
    "ad.sb.secret.lead": "Khoá {id} ({label}) cho tổng đài {b}. Tên người dùng HTTP Basic là mã tổng đài: {code}.",
    "ad.sb.secret.lead_nolabel": "Khoá {id} cho tổng đài {b}. Tên người dùng HTTP Basic là mã tổng đài: {code}.",
    "ad.sb.secret.howto": "Đặt khoá vào Asterisk",
    "ad.sb.secret.dialplan": "Dialplan (CURL): HOTLINE_SECRET={secret} trong mục [globals] của extensions.conf.",
    "ad.sb.secret.relay": "Relay: ghi vào tệp /etc/hotline-relay/secret (một dòng, chmod 0640).",
    "ad.sb.secret.ws": "ARI WebSocket (Asterisk 20.15+): username = {code}, password = khoá này.",
    "ad.sb.secret.docs": "Chi tiết: docs/asterisk.md §1 và docs/relay.md.",
    "ad.sb.secret.placeholder": "<khoá>",
    "ad.sb.full": "Tổng đài này đã có hai khoá đang dùng: thu hồi khoá cũ trước.",
    "ad.sb.networks": "Mạng được phép gửi",
    "ad.sb.networks.field": "Mạng được phép của {b}",
    "ad.sb.networks.hint": "Mỗi dòng một mạng CIDR, ví dụ 203.0.113.0/24. Để trống: nhận từ mọi địa chỉ.",
    "ad.sb.networks.save": "Lưu mạng được phép",
    "ad.sb.networks.saved": "Đã lưu mạng được phép của {b}: {n}.",
    "ad.sb.networks.any": "mọi địa chỉ",
    "ad.sb.networks.last": "Giá trị hiện tại theo nhật ký kiểm toán: đổi lúc {t} bởi {by}.",
    "ad.sb.networks.never": "Nhật ký kiểm toán chưa ghi lần đổi nào: mặc định nhận từ mọi địa chỉ.",
    // codes
    "ad.codes.title": "Danh mục mã",
    "ad.codes.intro":
      "Hồ sơ lưu mã, không lưu nhãn. Mã đã ngừng dùng vẫn đọc được trong hồ sơ cũ nhưng không chọn được cho hồ sơ mới.",
    "ad.codes.lists": "Các danh mục",
    "ad.codes.version": "Mã danh mục: {name} · phiên bản {v}",
    "ad.codes.code": "Mã",
    "ad.codes.label_vi": "Nhãn tiếng Việt",
    "ad.codes.label_en": "Nhãn tiếng Anh",
    "ad.codes.live": "Đang dùng",
    "ad.codes.retired": "Đã ngừng dùng",
    "ad.codes.retire": "Ngừng dùng",
    "ad.codes.retire_label": "Ngừng dùng mã {c}",
    "ad.codes.retire.confirm":
      "Ngừng dùng mã {c} ({l})? Hồ sơ cũ vẫn giữ mã này; hồ sơ mới không chọn được nữa. Có thể dùng lại sau.",
    "ad.codes.restore": "Dùng lại",
    "ad.codes.restore_label": "Dùng lại mã {c}",
    "ad.codes.edit_label": "Sửa nhãn của mã {c}",
    "ad.codes.edit_title": "Sửa nhãn — {c}",
    "ad.codes.add": "Thêm mã",
    "ad.codes.add_title": "Thêm mã vào danh mục «{l}»",
    "ad.codes.code.hint": "Chữ thường không dấu, chữ số và _, ví dụ online_scam. Không đổi được về sau.",
    "ad.codes.added": "Đã thêm mã {c}.",
    "ad.codes.saved": "Đã lưu mã {c}.",
    "ad.codes.exists": "Danh mục đã có mã này: hãy sửa nhãn hoặc dùng lại mã đó.",
    "ad.codes.system": "Các quy tắc của dịch vụ dựa vào danh mục này: không thể ngừng dùng mã của nó.",
    // partners
    "ad.p.title": "Danh bạ đối tác",
    "ad.p.add": "Thêm đối tác",
    "ad.p.search": "Tìm theo tên (có dấu hay không đều được)",
    "ad.p.name": "Tên tổ chức",
    "ad.p.kind": "Loại đối tác",
    "ad.p.province": "Tỉnh, thành phố",
    "ad.p.national": "Toàn quốc (không thuộc tỉnh nào)",
    "ad.p.points": "Đầu mối",
    "ad.p.active": "Đang hợp tác",
    "ad.p.inactive": "Ngừng hợp tác",
    "ad.p.active.field": "Đối tác đang hợp tác",
    "ad.p.active.hint": "Đối tác không bao giờ bị xoá: bỏ chọn để ngừng, các chuyển tuyến cũ vẫn trỏ tới đối tác này.",
    "ad.p.updated": "Cập nhật",
    "ad.p.count": "{from}–{to} trong {n} đối tác",
    "ad.p.none": "Không có đối tác nào khớp.",
    "ad.p.prev": "Trang trước",
    "ad.p.next": "Trang sau",
    "ad.p.edit_label": "Sửa {n}",
    "ad.p.edit_title": "Sửa đối tác",
    "ad.p.new_title": "Thêm đối tác",
    "ad.p.points.title": "Đầu mối liên hệ",
    "ad.p.points.notice": "Đầu mối liên hệ là dữ liệu cá nhân: được mã hoá và chỉ hiện trong cửa sổ này.",
    "ad.p.point": "Đầu mối {n}",
    "ad.p.point.name": "Người hoặc bộ phận",
    "ad.p.point.role": "Chức vụ",
    "ad.p.point.phone": "Điện thoại",
    "ad.p.point.email": "Thư điện tử",
    "ad.p.point.add": "Thêm đầu mối",
    "ad.p.point.remove": "Xoá đầu mối {n}",
    "ad.p.created": "Đã thêm đối tác {n}.",
    "ad.p.saved": "Đã lưu đối tác {n}.",
    "ad.p.duplicate": "Đã có đối tác cùng tên ở tỉnh này: hãy sửa đối tác đó.",
    // quarantine
    "ad.q.title": "Nội dung webhook bị cách ly",
    "ad.q.intro":
      "Nội dung tổng đài gửi mà dịch vụ không áp dụng được. Nội dung có thể chứa số điện thoại và tên người gọi: mỗi lần xem được ghi vào nhật ký kiểm toán.",
    "ad.q.status.held": "Đang giữ",
    "ad.q.status.replayed": "Đã áp dụng lại",
    "ad.q.status.discarded": "Đã bỏ",
    "ad.q.received": "Nhận lúc",
    "ad.q.source": "Nguồn",
    "ad.q.code": "Mã trả về",
    "ad.q.reason": "Lý do",
    "ad.q.event": "sự kiện thứ {n}",
    "ad.q.resolved": "{t} bởi {by}",
    "ad.q.none": "Không có nội dung nào bị cách ly.",
    "ad.q.total": "{n} mục khớp bộ lọc, mới nhất trước.",
    "ad.q.view": "Xem",
    "ad.q.view_label": "Xem nội dung #{id}",
    "ad.q.view_title": "Nội dung bị cách ly #{id}",
    "ad.q.view_notice": "Nội dung có thể chứa số điện thoại và tên người gọi. Lần xem này đã được ghi vào nhật ký kiểm toán.",
    "ad.q.content_type": "Kiểu nội dung",
    "ad.q.webhook_id": "webhook-id",
    "ad.q.address": "Địa chỉ gửi",
    "ad.q.body": "Nội dung nhận được",
    "ad.q.replay": "Áp dụng lại",
    "ad.q.replay_label": "Áp dụng lại nội dung #{id}",
    "ad.q.replay.title": "Kết quả áp dụng lại #{id}",
    "ad.q.replay.ok":
      "Đã áp dụng: {received} sự kiện nhận được, {stored} sự kiện mới được lưu, {duplicates} sự kiện trùng (đã có từ trước).",
    "ad.q.replay.failed": "Vẫn chưa áp dụng được: {m}. Nội dung vẫn được giữ trong cách ly.",
    "ad.q.discard": "Bỏ",
    "ad.q.discard_label": "Bỏ nội dung #{id}",
    "ad.q.discard.title": "Bỏ nội dung #{id}?",
    "ad.q.discard.confirm":
      "Nội dung này sẽ không bao giờ được áp dụng. Bản ghi vẫn được lưu với trạng thái «Đã bỏ».",
    "ad.q.discarded": "Đã bỏ nội dung #{id}.",
    "ad.q.resolved_already": "Nội dung này đã được xử lý (áp dụng lại hoặc bỏ) trước đó.",
    // audit
    "ad.a.title": "Nhật ký kiểm toán",
    "ad.a.verify": "Kiểm tra chuỗi",
    "ad.a.verify.intro":
      "Mỗi mục nhật ký mang dấu băm của mục trước. Kiểm tra chuỗi tính lại toàn bộ để phát hiện mục bị sửa hoặc bị xoá.",
    "ad.a.verify.running": "Đang kiểm tra chuỗi…",
    "ad.a.verify.ok": "Chuỗi nhật ký nguyên vẹn: đã kiểm tra {n} mục, không mục nào bị sửa hay xoá.",
    "ad.a.verify.bad":
      "Chuỗi nhật ký bị phá vỡ tại mục #{id} (mục thứ {n} được kiểm tra): {p}. Hãy báo ngay cho người phụ trách an ninh thông tin.",
    "ad.a.verify.show": "Xem quanh mục #{id}",
    "ad.a.action": "Hành động",
    "ad.a.object_type": "Loại đối tượng",
    "ad.a.object_id": "Mã đối tượng",
    "ad.a.page_size": "Số mục mỗi trang",
    "ad.a.at": "Lúc",
    "ad.a.actor": "Người thực hiện",
    "ad.a.object": "Đối tượng",
    "ad.a.details": "Chi tiết",
    "ad.a.address": "Địa chỉ",
    "ad.a.none": "Không có mục nào khớp.",
    "ad.a.newest": "Mới nhất",
    "ad.a.newer": "Mới hơn",
    "ad.a.older": "Cũ hơn",
    "ad.a.page": "Trang {n}",
    "ad.a.entries": "Các mục, mới nhất trước",
    "act.login": "Đăng nhập",
    "act.logout": "Đăng xuất",
    "act.create": "Tạo",
    "act.update": "Sửa",
    "act.read": "Xem",
    "act.reset_password": "Đặt lại mật khẩu",
    "act.change_password": "Đổi mật khẩu",
    "act.revoke_sessions": "Kết thúc các phiên",
    "act.issue_credential": "Cấp khoá webhook",
    "act.revoke_credential": "Thu hồi khoá webhook",
    "act.set_allowed_networks": "Đổi mạng được phép",
    "act.view_quarantined_body": "Xem nội dung bị cách ly",
    "act.replay": "Áp dụng lại",
    "act.discard": "Bỏ",
    "act.view_number": "Xem số điện thoại",
    "act.search_by_number": "Tìm theo số điện thoại",
    "act.set_presence": "Đổi trạng thái tư vấn viên",
    "act.update_routing_settings": "Đổi cài đặt định tuyến",
    "act.run": "Chạy",
    "act.export": "Xuất",
    "act.purge": "Xoá theo thời hạn lưu",
    "act.purge_dry_run": "Thử xoá theo thời hạn lưu",
    "act.deactivate": "Ngừng hợp tác",
    "act.reactivate": "Hợp tác lại",
    "act.note_added": "Thêm ghi chú",
    "act.person_added": "Thêm người liên quan",
    "act.transition": "Chuyển bước",
    "act.view_recording": "Xem tham chiếu ghi âm",
    "obj.retention": "Thời hạn lưu trữ",
    "ad.a.action.hint": "Mã hành động, ví dụ create, login, issue_credential; để trống: tất cả.",
    "obj.user": "Người dùng",
    "obj.switchboard": "Tổng đài",
    "obj.webhook_quarantine": "Nội dung bị cách ly",
    "obj.code": "Mã danh mục",
    "obj.partner": "Đối tác",
    "obj.call": "Cuộc gọi",
    "obj.case": "Hồ sơ vụ việc",
    "obj.contact_record": "Ghi nhận cuộc gọi",
    "obj.referral": "Chuyển tuyến",
    "obj.report": "Báo cáo",
    "obj.routing_settings": "Cài đặt định tuyến",
    "obj.presence": "Trạng thái tư vấn viên",
  },
  en: {
    "ad.title": "Administration",
    "ad.tabs": "Administration sections",
    "ad.tab.users": "Users and roles",
    "ad.tab.switchboards": "Switchboards and credentials",
    "ad.tab.codes": "Code lists",
    "ad.tab.partners": "Partner directory",
    "ad.tab.quarantine": "Quarantine",
    "ad.tab.audit": "Audit log",
    "ad.all": "All",
    "ad.actions": "Actions",
    "ad.status": "Status",
    "ad.edit": "Edit",
    "ad.confirm": "Confirm",
    "ad.refresh": "Refresh",
    "ad.filter": "Filter",
    "ad.nothing_changed": "Nothing has changed.",
    "ad.err.field": "“{f}” is not valid: {m}",
    "ad.err.conflict": "Not done because of a conflict: {m}",
    "ad.board": "Switchboard",
    "ad.national": "national switchboard",
    "ad.always_open": "always open",
    "ad.once.warning":
      "Shown ONCE only. Once this window is closed it cannot be seen again — the service keeps no readable copy.",
    "ad.once.copy": "Copy",
    "ad.once.copied": "Copied to the clipboard.",
    "ad.once.copy_failed": "Could not copy automatically: select the text and press Ctrl+C.",
    "ad.once.copy_hint": "Select the text (click it) and press Ctrl+C, or press “Copy”.",
    "ad.once.done": "I have written it down — Close",
    "ad.users.title": "Users and roles",
    "ad.users.add": "Add a user",
    "ad.users.count": "{n} users",
    "ad.users.none": "No users here yet.",
    "ad.users.username": "User name",
    "ad.users.username.hint": "Lower-case letters without accents, digits and . _ - (e.g. lan.tran). Cannot be changed later.",
    "ad.users.display_name": "Full name",
    "ad.users.roles": "Roles",
    "ad.users.roles.none": "Choose at least one role.",
    "ad.users.home": "Home switchboard",
    "ad.users.extensions": "Extensions per switchboard",
    "ad.users.extensions.hint": "Where this person answers at each switchboard, e.g. PJSIP/1012. Leave empty where they take no calls.",
    "ad.users.extension_at": "Extension at {b}",
    "ad.users.languages": "Languages",
    "ad.users.languages.hint": "ISO 639 codes separated by commas: vi, en, km, zh …",
    "ad.users.languages.bad": "Languages must be codes such as vi, en, km, separated by commas.",
    "ad.users.active": "Account active",
    "ad.users.active.hint": "Untick to disable the account: every session of this person ends at once.",
    "ad.users.self": "This is your own account: you cannot remove your own admin role or disable yourself.",
    "ad.users.state.active": "Active",
    "ad.users.state.disabled": "Disabled",
    "ad.users.created": "User {u} created.",
    "ad.users.saved": "Changes to {u} saved.",
    "ad.users.edit_title": "Edit user {u}",
    "ad.users.edit_label": "Edit {u}",
    "ad.users.reset": "Reset password",
    "ad.users.reset_label": "Reset the password of {u}",
    "ad.users.reset.confirm":
      "Reset the password of {name} ({u})? The old password stops working and all their sessions end at once. The new password is shown once.",
    "ad.users.revoke": "End sessions",
    "ad.users.revoke_label": "End every session of {u}",
    "ad.users.revoke.confirm": "End every session of {name} ({u})? They will have to sign in again.",
    "ad.users.revoked": "Every session of {u} has ended.",
    "ad.users.taken": "This user name is taken.",
    "ad.users.ext_taken": "An extension already belongs to another user at that switchboard.",
    "ad.password.title": "One-time password of {u}",
    "ad.password.lead":
      "Give this password to {name} in person or by phone; never by text message or e-mail. At their first sign-in the console asks them to choose their own.",
    "ad.password.label": "One-time password",
    "ad.sb.title": "Switchboards, webhook credentials and allowed networks",
    "ad.sb.intro":
      "Each Asterisk switchboard sends its events with its own secret; two may be active at once so that it can be rotated without a gap: issue a new one, put it on the switchboard, then revoke the old one.",
    "ad.sb.credentials": "Webhook credentials",
    "ad.sb.active_count": "{n} of 2 credentials active.",
    "ad.sb.cred.id": "Credential",
    "ad.sb.cred.label": "Label",
    "ad.sb.cred.created": "Issued",
    "ad.sb.cred.by": "Issued by",
    "ad.sb.cred.active": "Active",
    "ad.sb.cred.revoked": "Revoked {t}",
    "ad.sb.cred.none": "No active credential: this switchboard cannot send events yet.",
    "ad.sb.cred.revoked_list": "Revoked credentials ({n})",
    "ad.sb.issue": "Issue a new credential",
    "ad.sb.issue.label": "Label (what uses it)",
    "ad.sb.issue.label.hint": "For example: relay, dialplan, ari-websocket.",
    "ad.sb.issue.full": "Two credentials are active: revoke the old one before issuing a new one.",
    "ad.sb.revoke": "Revoke",
    "ad.sb.revoke_label": "Revoke credential {id}",
    "ad.sb.revoke.title": "Revoke credential {id}?",
    "ad.sb.revoke.confirm":
      "Every request of {b} with this credential is refused within 5 seconds. Make sure the switchboard has moved to the new one.",
    "ad.sb.revoked": "Credential {id} revoked.",
    "ad.sb.secret.title": "New webhook credential — {b}",
    "ad.sb.secret.label": "Secret",
    "ad.sb.secret.lead": "Credential {id} ({label}) for {b}. The HTTP Basic user name is the switchboard's code: {code}.",
    "ad.sb.secret.lead_nolabel": "Credential {id} for {b}. The HTTP Basic user name is the switchboard's code: {code}.",
    "ad.sb.secret.howto": "Putting it in Asterisk",
    "ad.sb.secret.dialplan": "Dialplan (CURL): HOTLINE_SECRET={secret} in the [globals] of extensions.conf.",
    "ad.sb.secret.relay": "Relay: write it to /etc/hotline-relay/secret (one line, chmod 0640).",
    "ad.sb.secret.ws": "ARI WebSocket (Asterisk 20.15+): username = {code}, password = this secret.",
    "ad.sb.secret.docs": "Details: docs/asterisk.md §1 and docs/relay.md.",
    "ad.sb.secret.placeholder": "<secret>",
    "ad.sb.full": "This switchboard already has two active credentials: revoke the old one first.",
    "ad.sb.networks": "Allowed networks",
    "ad.sb.networks.field": "Allowed networks of {b}",
    "ad.sb.networks.hint": "One CIDR network a line, e.g. 203.0.113.0/24. Empty: any address.",
    "ad.sb.networks.save": "Save allowed networks",
    "ad.sb.networks.saved": "Allowed networks of {b} saved: {n}.",
    "ad.sb.networks.any": "any address",
    "ad.sb.networks.last": "Current value according to the audit log: changed {t} by {by}.",
    "ad.sb.networks.never": "The audit log records no change: by default any address is accepted.",
    "ad.codes.title": "Code lists",
    "ad.codes.intro":
      "Records store codes, not labels. A retired code stays readable in old records but cannot be chosen for new ones.",
    "ad.codes.lists": "Lists",
    "ad.codes.version": "List code: {name} · version {v}",
    "ad.codes.code": "Code",
    "ad.codes.label_vi": "Vietnamese label",
    "ad.codes.label_en": "English label",
    "ad.codes.live": "In use",
    "ad.codes.retired": "Retired",
    "ad.codes.retire": "Retire",
    "ad.codes.retire_label": "Retire the code {c}",
    "ad.codes.retire.confirm":
      "Retire the code {c} ({l})? Old records keep it; new ones can no longer choose it. It can be brought back later.",
    "ad.codes.restore": "Bring back",
    "ad.codes.restore_label": "Bring back the code {c}",
    "ad.codes.edit_label": "Edit the labels of {c}",
    "ad.codes.edit_title": "Edit labels — {c}",
    "ad.codes.add": "Add a code",
    "ad.codes.add_title": "Add a code to “{l}”",
    "ad.codes.code.hint": "Lower-case letters, digits and _, e.g. online_scam. Cannot be changed later.",
    "ad.codes.added": "Code {c} added.",
    "ad.codes.saved": "Code {c} saved.",
    "ad.codes.exists": "The list already has this code: change its labels or bring it back instead.",
    "ad.codes.system": "The service's rules rely on this list: its codes cannot be retired.",
    "ad.p.title": "Partner directory",
    "ad.p.add": "Add a partner",
    "ad.p.search": "Search by name (with or without diacritics)",
    "ad.p.name": "Organisation name",
    "ad.p.kind": "Partner kind",
    "ad.p.province": "Province",
    "ad.p.national": "National (no province)",
    "ad.p.points": "Contacts",
    "ad.p.active": "Active",
    "ad.p.inactive": "Inactive",
    "ad.p.active.field": "Partner active",
    "ad.p.active.hint": "Partners are never deleted: untick to deactivate; old referrals keep pointing at it.",
    "ad.p.updated": "Updated",
    "ad.p.count": "{from}–{to} of {n} partners",
    "ad.p.none": "No partner matches.",
    "ad.p.prev": "Previous page",
    "ad.p.next": "Next page",
    "ad.p.edit_label": "Edit {n}",
    "ad.p.edit_title": "Edit partner",
    "ad.p.new_title": "Add a partner",
    "ad.p.points.title": "Contact points",
    "ad.p.points.notice": "Contact points are personal data: encrypted, and shown only in this window.",
    "ad.p.point": "Contact {n}",
    "ad.p.point.name": "Person or desk",
    "ad.p.point.role": "Function",
    "ad.p.point.phone": "Phone",
    "ad.p.point.email": "E-mail",
    "ad.p.point.add": "Add a contact",
    "ad.p.point.remove": "Remove contact {n}",
    "ad.p.created": "Partner {n} added.",
    "ad.p.saved": "Partner {n} saved.",
    "ad.p.duplicate": "A partner with this name already exists in this province: change that one.",
    "ad.q.title": "Quarantined webhook bodies",
    "ad.q.intro":
      "Bodies sent by the switchboards that the service could not apply. They may hold callers' numbers and names: every view is written to the audit log.",
    "ad.q.status.held": "Held",
    "ad.q.status.replayed": "Replayed",
    "ad.q.status.discarded": "Discarded",
    "ad.q.received": "Received",
    "ad.q.source": "Source",
    "ad.q.code": "Answer",
    "ad.q.reason": "Reason",
    "ad.q.event": "event {n}",
    "ad.q.resolved": "{t} by {by}",
    "ad.q.none": "Nothing is quarantined.",
    "ad.q.total": "{n} matching the filters, newest first.",
    "ad.q.view": "View",
    "ad.q.view_label": "View body #{id}",
    "ad.q.view_title": "Quarantined body #{id}",
    "ad.q.view_notice": "The body may hold callers' numbers and names. This view has been written to the audit log.",
    "ad.q.content_type": "Content type",
    "ad.q.webhook_id": "webhook-id",
    "ad.q.address": "Sent from",
    "ad.q.body": "Body as received",
    "ad.q.replay": "Replay",
    "ad.q.replay_label": "Replay body #{id}",
    "ad.q.replay.title": "Replay of #{id}",
    "ad.q.replay.ok":
      "Applied: {received} events received, {stored} new events stored, {duplicates} duplicates (already there).",
    "ad.q.replay.failed": "Still cannot be applied: {m}. The body stays in quarantine.",
    "ad.q.discard": "Discard",
    "ad.q.discard_label": "Discard body #{id}",
    "ad.q.discard.title": "Discard body #{id}?",
    "ad.q.discard.confirm": "This body will never be applied. The record is kept with the status “Discarded”.",
    "ad.q.discarded": "Body #{id} discarded.",
    "ad.q.resolved_already": "This body has already been dealt with (replayed or discarded).",
    "ad.a.title": "Audit log",
    "ad.a.verify": "Verify the chain",
    "ad.a.verify.intro":
      "Each entry carries the hash of the one before. Verifying recomputes them all to find an entry that was altered or removed.",
    "ad.a.verify.running": "Verifying the chain…",
    "ad.a.verify.ok": "The audit chain is intact: {n} entries checked, none altered or removed.",
    "ad.a.verify.bad":
      "The audit chain is broken at entry #{id} (entry {n} checked): {p}. Tell the information security officer at once.",
    "ad.a.verify.show": "Show the entries around #{id}",
    "ad.a.action": "Action",
    "ad.a.object_type": "Object type",
    "ad.a.object_id": "Object id",
    "ad.a.page_size": "Entries per page",
    "ad.a.at": "At",
    "ad.a.actor": "Actor",
    "ad.a.object": "Object",
    "ad.a.details": "Details",
    "ad.a.address": "Address",
    "ad.a.none": "No entry matches.",
    "ad.a.newest": "Newest",
    "ad.a.newer": "Newer",
    "ad.a.older": "Older",
    "ad.a.page": "Page {n}",
    "ad.a.entries": "Entries, newest first",
    "act.login": "Sign-in",
    "act.logout": "Sign-out",
    "act.create": "Create",
    "act.update": "Change",
    "act.read": "Read",
    "act.reset_password": "Password reset",
    "act.change_password": "Password change",
    "act.revoke_sessions": "Sessions ended",
    "act.issue_credential": "Webhook credential issued",
    "act.revoke_credential": "Webhook credential revoked",
    "act.set_allowed_networks": "Allowed networks changed",
    "act.view_quarantined_body": "Quarantined body viewed",
    "act.replay": "Replay",
    "act.discard": "Discard",
    "act.view_number": "Phone number viewed",
    "act.search_by_number": "Search by number",
    "act.set_presence": "Counsellor state changed",
    "act.update_routing_settings": "Routing settings changed",
    "act.run": "Run",
    "act.export": "Export",
    "act.purge": "Retention purge",
    "act.purge_dry_run": "Retention purge (dry run)",
    "act.deactivate": "Deactivated",
    "act.reactivate": "Reactivated",
    "act.note_added": "Note added",
    "act.person_added": "Person added",
    "act.transition": "Moved on",
    "act.view_recording": "Recording reference viewed",
    "obj.retention": "Retention",
    "ad.a.action.hint": "The action's code, e.g. create, login, issue_credential; empty: all.",
    "obj.user": "User",
    "obj.switchboard": "Switchboard",
    "obj.webhook_quarantine": "Quarantined body",
    "obj.code": "Code",
    "obj.partner": "Partner",
    "obj.call": "Call",
    "obj.case": "Case",
    "obj.contact_record": "Contact record",
    "obj.referral": "Referral",
    "obj.report": "Report",
    "obj.routing_settings": "Routing settings",
    "obj.presence": "Counsellor state",
  },
});

const ROLES = ["counsellor", "supervisor", "national_supervisor", "analyst", "admin"];
const TABS = [
  { id: "users", label: "ad.tab.users", render: usersTab },
  { id: "switchboards", label: "ad.tab.switchboards", render: switchboardsTab },
  { id: "codes", label: "ad.tab.codes", render: codesTab },
  { id: "partners", label: "ad.tab.partners", render: partnersTab },
  { id: "quarantine", label: "ad.tab.quarantine", render: quarantineTab },
  { id: "audit", label: "ad.tab.audit", render: auditTab },
];

// what the admin chose last, kept while the page lives (a tab change remounts the screen)
const memory = {
  focusTab: false,
  usersBoard: "",
  codeList: null,
  quarantineStatus: "held",
  quarantineBoard: "",
};

export async function mount(root, ctx, param) {
  const current = TABS.find((tab) => tab.id === param) || TABS[0];
  const go = (tab, focus) => {
    memory.focusTab = focus;
    ctx.navigate(`#/admin/${tab.id}`);
  };
  const buttons = TABS.map((tab) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `ad-tab-${tab.id}`,
        "aria-selected": tab === current ? "true" : "false",
        "aria-controls": "ad-panel",
        tabindex: tab === current ? "0" : "-1",
        onclick: () => tab !== current && go(tab, true),
      },
      t(tab.label),
    ),
  );
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": t("ad.tabs") }, buttons);
  // arrow keys move between tabs, as in every tab list (WAI-ARIA); the tab opens at once
  tablist.addEventListener("keydown", (e) => {
    const i = TABS.indexOf(current);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    go(TABS[(next + TABS.length) % TABS.length], true);
  });
  const panel = h("section", { class: "admin-panel", role: "tabpanel", id: "ad-panel", "aria-labelledby": `ad-tab-${current.id}` });
  fill(root, h("h1", {}, t("ad.title")), tablist, panel);
  if (memory.focusTab) buttons[TABS.indexOf(current)].focus();
  memory.focusTab = false;
  return (await current.render(panel, ctx)) || undefined;
}

// ---- shared helpers ------------------------------------------------------------------------------

let boardsCache = null;
async function switchboards() {
  if (!boardsCache) {
    // the national switchboard first, then north to south, as the console lists them everywhere
    const order = ["hanoi", "danang", "angiang"];
    const rank = (b) => (order.includes(b.code) ? order.indexOf(b.code) : order.length);
    boardsCache = (await get("/api/v1/reference/switchboards")).sort((a, b) => rank(a) - rank(b) || a.code.localeCompare(b.code));
  }
  return boardsCache;
}

// the short name ("Đà Nẵng"); the reference's full name ("Tổng đài khu vực …") heads its card
const boardName = (code) => {
  const key = `board.${code}`;
  if (t(key) !== key) return t(key);
  const b = (boardsCache || []).find((x) => x.code === code);
  return b ? (lang() === "en" ? b.name_en : b.name_vi) : code;
};
const boardFullName = (b) => (lang() === "en" ? b.name_en : b.name_vi);

// a translated name for a code of the service's own vocabulary (an audit action …), else the code
const known = (prefix, code) => (t(`${prefix}.${code}`) === `${prefix}.${code}` ? code : t(`${prefix}.${code}`));

const del = (path) => api("DELETE", path);
const small = (attrs, text) => h("button", { type: "button", class: "small", ...attrs }, text);

function boardOptions(withAll) {
  return [...(withAll ? [{ value: "", text: t("ad.all") }] : []), ...(boardsCache || []).map((b) => ({ value: b.code, text: boardName(b.code) }))];
}

// the control a service error names ("extensions", "contact_points.0.phone"), or its nearest parent
function controlFor(form, name) {
  let path = name;
  while (path) {
    const found = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
    if (found) return found;
    path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
  }
  return null;
}

function labelOf(control) {
  if (control.labels && control.labels.length) return control.labels[0].textContent;
  const legend = control.closest("fieldset")?.querySelector("legend");
  return legend ? legend.textContent : control.getAttribute("aria-label") || "";
}

// shows a refusal inside a form, naming the field; `known` maps "409", "409:username" … to words
function showError(alertEl, form, err, messages = {}) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute("aria-invalid");
  if (!(err instanceof ApiError)) {
    alertEl.textContent = t("error.generic", { m: err.message });
    return;
  }
  if (err.status === 401) return; // the sign-in screen takes over
  const control = err.field ? controlFor(form, err.field) : null;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
  let text = messages[`${err.status}:${err.field}`] || messages[String(err.status)];
  if (!text) {
    if (err.status === 0) text = t("error.network");
    else if (err.status === 403) text = t("error.forbidden");
    else if (err.status === 404) text = t("error.notfound");
    else if (control) text = t("ad.err.field", { f: labelOf(control), m: err.message });
    else if (err.status === 409) text = t("ad.err.conflict", { m: err.message });
    else text = t("error.generic", { m: err.message });
  }
  alertEl.textContent = text;
}

// a refusal found before asking the service
class FormProblem extends Error {
  constructor(message, control) {
    super(message);
    this.control = control;
  }
}

// a dialog around a form: build(form) adds the fields and returns collect() -> the request body
// (or throws FormProblem); submit(body) does the work; its answer closes the dialog
function formDialog(title, { build, submit, submitText, wide = false, messages = {} }) {
  return modal(title, (dialog, close) => {
    if (wide) dialog.classList.add("wide");
    const alertEl = h("p", { class: "form-error", role: "alert" });
    const form = h("form", {});
    const collect = build(form);
    const submitButton = h("button", { type: "submit", class: "primary" }, submitText || t("save"));
    fill(form, 
      alertEl,
      h("div", { class: "actions" }, submitButton, h("button", { type: "button", onclick: () => close(undefined) }, t("cancel"))),
    );
    form.addEventListener("input", (e) => e.target.removeAttribute?.("aria-invalid"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      alertEl.textContent = "";
      submitButton.disabled = true;
      try {
        const body = collect();
        const answer = await submit(body);
        close(answer);
      } catch (err) {
        if (err instanceof FormProblem) {
          alertEl.textContent = err.message;
          if (err.control) {
            err.control.setAttribute("aria-invalid", "true");
            err.control.focus();
          }
        } else {
          showError(alertEl, form, err, messages);
        }
      } finally {
        submitButton.disabled = false;
      }
    });
    fill(dialog, form);
    form.querySelector("input:not([type=checkbox]):not([readonly]), select, textarea")?.focus();
  });
}

function confirmDialog(title, message, { confirmText, danger = false } = {}) {
  return modal(title, (dialog, close) => {
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => close(true) }, confirmText || t("ad.confirm"));
    fill(dialog, 
      h("p", {}, message),
      h("div", { class: "actions" }, yes, h("button", { type: "button", onclick: () => close(false) }, t("cancel"))),
    );
    yes.focus();
  }).then((answer) => answer === true);
}

// a secret shown once: the warning, the value, a way to copy it, and nothing kept afterwards
function showOnce({ title, lead, valueLabel, secret, extra }) {
  return modal(title, (dialog, close) => {
    dialog.classList.add("once");
    const valueId = uid("once");
    // a read-only text box, so that it is focused, read out and selected as one piece
    const value = h(
      "code",
      { class: "secret", id: valueId, tabindex: "0", role: "textbox", "aria-readonly": "true", "aria-labelledby": `${valueId}-label` },
      secret,
    );
    const copy = h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(value.textContent);
            toast(t("ad.once.copied"), "ok");
          } catch (err) {
            toast(t("ad.once.copy_failed"), "error");
          }
        },
      },
      t("ad.once.copy"),
    );
    fill(dialog, 
      h("p", { class: "notice warn once-warning" }, t("ad.once.warning")),
      lead ? h("p", {}, lead) : null,
      h("div", { class: "field" }, h("span", { class: "once-label", id: `${valueId}-label` }, valueLabel), value),
      h("p", { class: "hint" }, t("ad.once.copy_hint")),
      extra || null,
      h(
        "div",
        { class: "actions" },
        copy,
        h("button", { type: "button", class: "primary", onclick: () => close(true) }, t("ad.once.done")),
      ),
    );
    value.focus();
  });
}

// a checkbox with its label around it and a hint read out with it
function checkField(box, text, hint) {
  const hintId = uid("hint");
  box.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { class: "inline" }, box, text), h("small", { class: "hint", id: hintId }, hint));
}

// Element.append() writes null as "null": this leaves out what h() leaves out
function fill(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

function loading(box) {
  fill(clear(box), h("p", { class: "muted" }, t("loading")));
}

// ---- 1. users and roles --------------------------------------------------------------------------

async function usersTab(panel, ctx) {
  await switchboards();
  const boardFilter = select("switchboard", boardOptions(true), { value: memory.usersBoard, empty: false });
  const listBox = h("div", { class: "admin-list" });
  fill(panel, 
    h(
      "div",
      { class: "row admin-head" },
      h("h2", {}, t("ad.users.title")),
      field(t("ad.users.home"), boardFilter),
      h("button", { type: "button", class: "primary", onclick: () => editUser(null) }, t("ad.users.add")),
    ),
    listBox,
  );
  boardFilter.addEventListener("change", () => {
    memory.usersBoard = boardFilter.value;
    load();
  });

  async function load() {
    loading(listBox);
    let users;
    try {
      users = await get(`/api/v1/users${query({ switchboard: boardFilter.value })}`);
    } catch (err) {
      clear(listBox);
      ctx.error(err);
      return;
    }
    fill(clear(listBox), 
      table(
        [
          { text: t("ad.users.username"), value: (u) => h("code", {}, u.username) },
          { text: t("ad.users.display_name"), value: (u) => u.display_name },
          { text: t("ad.users.roles"), value: (u) => u.roles.map((r) => t(`role.${r}`)).join(", ") },
          { text: t("ad.users.home"), value: (u) => boardName(u.home_switchboard) },
          {
            text: t("ad.users.extensions"),
            value: (u) => (u.extensions.length ? u.extensions.map((e) => `${boardName(e.switchboard)}: ${e.extension}`).join("; ") : "—"),
          },
          { text: t("ad.users.languages"), value: (u) => u.languages.join(", ") },
          {
            text: t("ad.status"),
            value: (u) =>
              h("span", { class: u.is_active ? "badge available" : "badge danger" }, t(u.is_active ? "ad.users.state.active" : "ad.users.state.disabled")),
          },
          {
            text: t("ad.actions"),
            class: "cell-actions",
            value: (u) => [
              small({ "aria-label": t("ad.users.edit_label", { u: u.username }), onclick: () => editUser(u) }, t("ad.edit")),
              small({ "aria-label": t("ad.users.reset_label", { u: u.username }), onclick: () => resetPassword(u) }, t("ad.users.reset")),
              small({ "aria-label": t("ad.users.revoke_label", { u: u.username }), onclick: () => revokeSessions(u) }, t("ad.users.revoke")),
            ],
          },
        ],
        users,
        { caption: t("ad.users.count", { n: users.length }), empty: t("ad.users.none") },
      ),
    );
  }

  async function editUser(user) {
    const self = user && user.id === ctx.user.id;
    const controls = {};
    const answer = await formDialog(user ? t("ad.users.edit_title", { u: user.username }) : t("ad.users.add"), {
      wide: true,
      submitText: user ? t("save") : t("ad.users.add"),
      messages: { "409:username": t("ad.users.taken"), "409:extensions": t("ad.users.ext_taken") },
      build: (form) => {
        controls.username = user
          ? null
          : h("input", {
              name: "username",
              "data-field": "username",
              required: true,
              pattern: "[a-z0-9][a-z0-9._\\-]{1,62}",
              maxlength: 63,
              autocomplete: "off",
              spellcheck: "false",
            });
        controls.display_name = h("input", {
          name: "display_name",
          "data-field": "display_name",
          required: true,
          maxlength: 200,
          autocomplete: "off",
          value: user ? user.display_name : null,
        });
        controls.roles = ROLES.map((r) =>
          h("input", {
            type: "checkbox",
            name: "roles",
            value: r,
            checked: user ? user.roles.includes(r) : false,
            disabled: self && r === "admin",
          }),
        );
        const rolesBox = h(
          "fieldset",
          { "data-field": "roles" },
          h("legend", {}, t("ad.users.roles")),
          h("div", { class: "choices" }, ROLES.map((r, i) => h("label", {}, controls.roles[i], t(`role.${r}`)))),
        );
        controls.home = select("home_switchboard", boardOptions(false), {
          value: user ? user.home_switchboard : memory.usersBoard || "hanoi",
          empty: false,
        });
        controls.home.dataset.field = "home_switchboard";
        controls.extensions = (boardsCache || []).map((b) => {
          const current = user?.extensions.find((e) => e.switchboard === b.code);
          return h("input", {
            name: `extension_${b.code}`,
            "data-board": b.code,
            pattern: "[A-Za-z0-9_.@\\/\\-]+",
            maxlength: 32,
            placeholder: "PJSIP/1012",
            autocomplete: "off",
            spellcheck: "false",
            value: current ? current.extension : null,
          });
        });
        const extBox = h(
          "fieldset",
          { "data-field": "extensions" },
          h("legend", {}, t("ad.users.extensions")),
          h("p", { class: "hint" }, t("ad.users.extensions.hint")),
          h(
            "div",
            { class: "row" },
            controls.extensions.map((input) => field(t("ad.users.extension_at", { b: boardName(input.dataset.board) }), input)),
          ),
        );
        controls.languages = h("input", {
          name: "languages",
          "data-field": "languages",
          required: true,
          autocomplete: "off",
          spellcheck: "false",
          value: user ? user.languages.join(", ") : "vi",
        });
        controls.active = user
          ? h("input", { type: "checkbox", name: "is_active", "data-field": "is_active", checked: user.is_active, disabled: self })
          : null;
        fill(form, 
          self ? h("p", { class: "notice" }, t("ad.users.self")) : null,
          h(
            "div",
            { class: "grid admin-form-two" },
            controls.username ? field(t("ad.users.username"), controls.username, t("ad.users.username.hint")) : null,
            field(t("ad.users.display_name"), controls.display_name),
            field(t("ad.users.home"), controls.home),
            field(t("ad.users.languages"), controls.languages, t("ad.users.languages.hint")),
          ),
          rolesBox,
          extBox,
          controls.active ? checkField(controls.active, t("ad.users.active"), t("ad.users.active.hint")) : null,
        );
        return () => {
          const roles = controls.roles.filter((c) => c.checked).map((c) => c.value);
          if (!roles.length) throw new FormProblem(t("ad.users.roles.none"), controls.roles[0]);
          const languages = controls.languages.value
            .split(/[\s,;]+/)
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean);
          if (!languages.length || languages.some((l) => !/^[a-z]{2,3}$/.test(l))) {
            throw new FormProblem(t("ad.users.languages.bad"), controls.languages);
          }
          const extensions = controls.extensions
            .filter((c) => c.value.trim())
            .map((c) => ({ switchboard: c.dataset.board, extension: c.value.trim() }));
          const body = {
            display_name: controls.display_name.value.trim(),
            roles,
            home_switchboard: controls.home.value,
            extensions,
            languages,
          };
          if (!user) return { username: controls.username.value.trim(), ...body };
          // only what changed: the audit entry names the fields changed
          const changed = {};
          if (body.display_name !== user.display_name) changed.display_name = body.display_name;
          if ([...roles].sort().join() !== [...user.roles].sort().join()) changed.roles = roles;
          if (body.home_switchboard !== user.home_switchboard) changed.home_switchboard = body.home_switchboard;
          const extKey = (list) => list.map((e) => `${e.switchboard}=${e.extension}`).sort().join();
          if (extKey(extensions) !== extKey(user.extensions)) changed.extensions = extensions;
          if (languages.join() !== user.languages.join()) changed.languages = languages;
          if (controls.active && controls.active.checked !== user.is_active) changed.is_active = controls.active.checked;
          if (!Object.keys(changed).length) throw new FormProblem(t("ad.nothing_changed"));
          return changed;
        };
      },
      submit: (body) => (user ? patch(`/api/v1/users/${user.id}`, body) : post("/api/v1/users", body)),
    });
    if (answer === undefined) return;
    if (user) {
      toast(t("ad.users.saved", { u: user.username }), "ok");
    } else {
      toast(t("ad.users.created", { u: answer.user.username }), "ok");
      if (answer.one_time_password) await showPassword(answer.user, answer.one_time_password);
    }
    load();
  }

  function showPassword(u, password) {
    return showOnce({
      title: t("ad.password.title", { u: u.username }),
      lead: t("ad.password.lead", { name: u.display_name }),
      valueLabel: t("ad.password.label"),
      secret: password,
    });
  }

  async function resetPassword(u) {
    const ok = await confirmDialog(t("ad.users.reset_label", { u: u.username }), t("ad.users.reset.confirm", { name: u.display_name, u: u.username }), {
      confirmText: t("ad.users.reset"),
      danger: true,
    });
    if (!ok) return;
    try {
      const answer = await post(`/api/v1/users/${u.id}/password`, {});
      await showPassword(answer.user, answer.one_time_password);
    } catch (err) {
      ctx.error(err);
    }
  }

  async function revokeSessions(u) {
    const ok = await confirmDialog(t("ad.users.revoke_label", { u: u.username }), t("ad.users.revoke.confirm", { name: u.display_name, u: u.username }), {
      confirmText: t("ad.users.revoke"),
      danger: true,
    });
    if (!ok) return;
    try {
      await post(`/api/v1/users/${u.id}/revoke-sessions`, {});
      toast(t("ad.users.revoked", { u: u.username }), "ok");
    } catch (err) {
      ctx.error(err);
    }
  }

  await load();
}

// ---- 2. switchboards, credentials, allowed networks ----------------------------------------------

async function switchboardsTab(panel, ctx) {
  const boards = await switchboards();
  fill(panel, h("h2", {}, t("ad.sb.title")), h("p", { class: "muted" }, t("ad.sb.intro")));
  for (const board of boards) {
    const section = h("section", { class: "card switchboard", "aria-labelledby": `sb-${board.code}`, dataset: { board: board.code } });
    fill(panel, section);
    renderBoard(section, board);
  }

  async function renderBoard(section, board) {
    const facts = [t(`region.${board.region}`), board.is_national ? t("ad.national") : null, board.always_open ? t("ad.always_open") : null]
      .filter(Boolean)
      .join(" · ");
    const credBox = h("div", { class: "credentials" });
    const netBox = h("div", { class: "networks" });
    fill(clear(section), 
      h("h3", { id: `sb-${board.code}`, class: "board-title" }, `${boardFullName(board)} `, h("code", {}, board.code), h("small", {}, ` — ${facts}`)),
      h("div", { class: "grid two" }, credBox, netBox),
    );
    loadCredentials(credBox, board);
    loadNetworks(netBox, board);
  }

  async function loadCredentials(box, board) {
    const name = boardName(board.code);
    loading(box);
    let creds;
    try {
      creds = await get(`/api/v1/switchboards/${board.code}/credentials`);
    } catch (err) {
      clear(box);
      ctx.error(err);
      return;
    }
    const active = creds.filter((c) => !c.revoked_at);
    const revoked = creds.filter((c) => c.revoked_at).reverse();
    const columns = [
      { text: t("ad.sb.cred.id"), value: (c) => h("code", {}, c.id) },
      { text: t("ad.sb.cred.label"), value: (c) => c.label || "—" },
      { text: t("ad.sb.cred.created"), value: (c) => fmtDateTime(c.created_at) },
      { text: t("ad.sb.cred.by"), value: (c) => c.created_by },
      {
        text: t("ad.status"),
        value: (c) =>
          c.revoked_at
            ? h("span", { class: "badge" }, t("ad.sb.cred.revoked", { t: fmtDateTime(c.revoked_at) }))
            : h("span", { class: "badge available" }, t("ad.sb.cred.active")),
      },
    ];
    const label = h("input", { name: "label", maxlength: 200, autocomplete: "off", spellcheck: "false" });
    const full = active.length >= 2;
    const issueButton = h("button", { type: "submit", class: "primary", disabled: full }, t("ad.sb.issue"));
    const issueForm = h(
      "form",
      { class: "row issue" },
      field(t("ad.sb.issue.label"), label, t("ad.sb.issue.label.hint")),
      h("div", { class: "field button-field" }, issueButton),
    );
    issueForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      issueButton.disabled = true;
      let issued;
      try {
        issued = await post(`/api/v1/switchboards/${board.code}/credentials`, { label: label.value.trim() || null });
      } catch (err) {
        issueButton.disabled = false;
        if (err instanceof ApiError && err.status === 409) toast(t("ad.sb.full"), "error");
        else ctx.error(err);
        return;
      }
      label.value = "";
      await showOnce({
        title: t("ad.sb.secret.title", { b: name }),
        lead: t(issued.label ? "ad.sb.secret.lead" : "ad.sb.secret.lead_nolabel", { id: issued.id, label: issued.label, b: name, code: board.code }),
        valueLabel: t("ad.sb.secret.label"),
        secret: issued.secret,
        extra: h(
          "div",
          { class: "howto" },
          h("h3", {}, t("ad.sb.secret.howto")),
          h(
            "ul",
            {},
            h("li", {}, t("ad.sb.secret.dialplan", { secret: t("ad.sb.secret.placeholder") })),
            h("li", {}, t("ad.sb.secret.relay")),
            h("li", {}, t("ad.sb.secret.ws", { code: board.code })),
          ),
          h("p", { class: "hint" }, t("ad.sb.secret.docs")),
        ),
      });
      issued = null; // nothing of the secret stays behind
      loadCredentials(box, board);
    });
    fill(clear(box), 
      h("h4", {}, t("ad.sb.credentials")),
      h("p", { class: active.length ? "muted" : "notice warn" }, active.length ? t("ad.sb.active_count", { n: active.length }) : t("ad.sb.cred.none")),
      active.length
        ? table(
            [
              ...columns,
              {
                text: t("ad.actions"),
                class: "cell-actions",
                value: (c) =>
                  small({ class: "small danger", "aria-label": t("ad.sb.revoke_label", { id: c.id }), onclick: () => revoke(box, board, c) }, t("ad.sb.revoke")),
              },
            ],
            active,
          )
        : null,
      full ? h("p", { class: "hint" }, t("ad.sb.issue.full")) : null,
      issueForm,
      revoked.length
        ? h("details", {}, h("summary", {}, t("ad.sb.cred.revoked_list", { n: revoked.length })), table(columns, revoked))
        : null,
    );
  }

  async function revoke(box, board, cred) {
    const ok = await confirmDialog(t("ad.sb.revoke.title", { id: cred.id }), t("ad.sb.revoke.confirm", { b: boardName(board.code) }), {
      confirmText: t("ad.sb.revoke"),
      danger: true,
    });
    if (!ok) return;
    try {
      await del(`/api/v1/switchboards/${board.code}/credentials/${cred.id}`);
      toast(t("ad.sb.revoked", { id: cred.id }), "ok");
    } catch (err) {
      ctx.error(err);
    }
    loadCredentials(box, board);
  }

  async function loadNetworks(box, board) {
    // the networks as the service holds them; who changed them last, from the audit log
    const name = boardName(board.code);
    loading(box);
    let last = null;
    let networks = [];
    try {
      const [current, page] = await Promise.all([
        get(`/api/v1/switchboards/${board.code}/allowed-networks`),
        get(
          `/api/v1/audit${query({ action: "set_allowed_networks", object_type: "switchboard", object_id: board.code, limit: 1 })}`,
        ),
      ]);
      networks = current.networks;
      last = page.entries[0] || null;
    } catch (err) {
      ctx.error(err);
    }
    const area = h("textarea", { name: "networks", "data-field": "networks", rows: 3, spellcheck: "false", autocomplete: "off" }, networks.join("\n"));
    const alertEl = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      {},
      field(t("ad.sb.networks.field", { b: name }), area, t("ad.sb.networks.hint")),
      h(
        "p",
        { class: "muted" },
        last ? t("ad.sb.networks.last", { t: fmtDateTime(last.at), by: last.actor }) : t("ad.sb.networks.never"),
      ),
      alertEl,
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("ad.sb.networks.save"))),
    );
    form.addEventListener("input", () => area.removeAttribute("aria-invalid"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      alertEl.textContent = "";
      const list = area.value
        .split(/[\s,;]+/)
        .map((s) => s.trim())
        .filter(Boolean);
      try {
        const saved = await put(`/api/v1/switchboards/${board.code}/allowed-networks`, { networks: list });
        toast(t("ad.sb.networks.saved", { b: name, n: saved.networks.join(", ") || t("ad.sb.networks.any") }), "ok");
        loadNetworks(box, board);
      } catch (err) {
        showError(alertEl, form, err);
      }
    });
    fill(clear(box), h("h4", {}, t("ad.sb.networks")), form);
  }
}

// ---- 3. code lists -------------------------------------------------------------------------------

async function codesTab(panel, ctx) {
  const nav = h("ul", { class: "code-nav" });
  const detail = h("div", { class: "card code-list", "aria-live": "polite" });
  fill(panel, 
    h("h2", {}, t("ad.codes.title")),
    h("p", { class: "muted" }, t("ad.codes.intro")),
    h("div", { class: "admin-codes" }, h("nav", { "aria-label": t("ad.codes.lists") }, nav), detail),
  );
  let lists = [];

  async function load() {
    try {
      lists = (await get("/api/v1/codes?include_retired=true")).lists;
    } catch (err) {
      ctx.error(err);
      return;
    }
    if (!lists.some((l) => l.name === memory.codeList)) memory.codeList = lists[0]?.name || null;
    render();
  }

  function render() {
    fill(clear(nav), 
      ...lists.map((l) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "link",
              "aria-current": l.name === memory.codeList ? "true" : null,
              onclick: () => {
                memory.codeList = l.name;
                render();
                detail.querySelector("h3")?.focus();
              },
            },
            label(l),
          ),
        ),
      ),
    );
    const list = lists.find((l) => l.name === memory.codeList);
    clear(detail);
    if (!list) return;
    fill(detail, 
      h("h3", { tabindex: "-1" }, label(list)),
      h("p", { class: "muted" }, t("ad.codes.version", { name: list.name, v: list.version })),
      table(
        [
          { text: t("ad.codes.code"), value: (c) => h("code", {}, c.code) },
          { text: t("ad.codes.label_vi"), value: (c) => h("span", { lang: "vi" }, c.label_vi) },
          { text: t("ad.codes.label_en"), value: (c) => h("span", { lang: "en" }, c.label_en) },
          {
            text: t("ad.status"),
            value: (c) => h("span", { class: c.retired ? "badge" : "badge available" }, t(c.retired ? "ad.codes.retired" : "ad.codes.live")),
          },
          {
            text: t("ad.actions"),
            class: "cell-actions",
            value: (c) => [
              small({ "aria-label": t("ad.codes.edit_label", { c: c.code }), onclick: () => editCode(list, c) }, t("ad.edit")),
              c.retired
                ? small({ "aria-label": t("ad.codes.restore_label", { c: c.code }), onclick: () => setRetired(list, c, false) }, t("ad.codes.restore"))
                : small({ "aria-label": t("ad.codes.retire_label", { c: c.code }), onclick: () => setRetired(list, c, true) }, t("ad.codes.retire")),
            ],
          },
        ],
        list.codes,
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => addCode(list) }, t("ad.codes.add"))),
    );
  }

  function replaceList(updated) {
    lists = lists.map((l) => (l.name === updated.name ? updated : l));
    ctx.forgetCodes(); // this browser's other screens read the lists again
    render();
  }

  async function addCode(list) {
    let code, vi, en;
    const answer = await formDialog(t("ad.codes.add_title", { l: label(list) }), {
      submitText: t("ad.codes.add"),
      messages: { 409: t("ad.codes.exists") },
      build: (form) => {
        code = h("input", { name: "code", "data-field": "code", required: true, pattern: "[a-z][a-z0-9_]{0,47}", maxlength: 48, autocomplete: "off", spellcheck: "false" });
        vi = h("input", { name: "label_vi", "data-field": "label_vi", required: true, maxlength: 200, lang: "vi", autocomplete: "off" });
        en = h("input", { name: "label_en", "data-field": "label_en", required: true, maxlength: 200, lang: "en", autocomplete: "off" });
        fill(form, field(t("ad.codes.code"), code, t("ad.codes.code.hint")), field(t("ad.codes.label_vi"), vi), field(t("ad.codes.label_en"), en));
        return () => ({ code: code.value.trim(), label_vi: vi.value.trim(), label_en: en.value.trim() });
      },
      submit: (body) => post(`/api/v1/codes/${list.name}`, body),
    });
    if (answer === undefined) return;
    toast(t("ad.codes.added", { c: code.value.trim() }), "ok");
    replaceList(answer);
  }

  async function editCode(list, c) {
    const answer = await formDialog(t("ad.codes.edit_title", { c: c.code }), {
      build: (form) => {
        const vi = h("input", { name: "label_vi", "data-field": "label_vi", required: true, maxlength: 200, lang: "vi", value: c.label_vi, autocomplete: "off" });
        const en = h("input", { name: "label_en", "data-field": "label_en", required: true, maxlength: 200, lang: "en", value: c.label_en, autocomplete: "off" });
        fill(form, field(t("ad.codes.label_vi"), vi), field(t("ad.codes.label_en"), en));
        return () => {
          const body = {};
          if (vi.value.trim() !== c.label_vi) body.label_vi = vi.value.trim();
          if (en.value.trim() !== c.label_en) body.label_en = en.value.trim();
          if (!Object.keys(body).length) throw new FormProblem(t("ad.nothing_changed"));
          return body;
        };
      },
      submit: (body) => patch(`/api/v1/codes/${list.name}/${c.code}`, body),
    });
    if (answer === undefined) return;
    toast(t("ad.codes.saved", { c: c.code }), "ok");
    replaceList(answer);
  }

  async function setRetired(list, c, retired) {
    if (retired) {
      const ok = await confirmDialog(t("ad.codes.retire_label", { c: c.code }), t("ad.codes.retire.confirm", { c: c.code, l: label(c) }), {
        confirmText: t("ad.codes.retire"),
        danger: true,
      });
      if (!ok) return;
    }
    try {
      replaceList(await patch(`/api/v1/codes/${list.name}/${c.code}`, { retired }));
      toast(t("ad.codes.saved", { c: c.code }), "ok");
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) toast(t("ad.codes.system"), "error");
      else ctx.error(err);
    }
  }

  await load();
}

// ---- 4. partner directory ------------------------------------------------------------------------

const PAGE = 50;

async function partnersTab(panel, ctx) {
  const [codeLists, provinces] = await Promise.all([get("/api/v1/codes?include_retired=true"), get("/api/v1/reference/provinces")]);
  const kinds = codeLists.lists.find((l) => l.name === "partner_kind")?.codes || [];
  const kindName = (code) => {
    const k = kinds.find((x) => x.code === code);
    return k ? label(k) : code;
  };
  const provinceName = (code) => {
    const p = provinces.find((x) => x.code === code);
    return p ? (lang() === "en" ? p.name_en : p.name_vi) : code || t("ad.p.national");
  };
  const provinceOptions = provinces.map((p) => ({ value: p.code, text: lang() === "en" ? p.name_en : p.name_vi }));

  const q = h("input", { type: "search", name: "q", maxlength: 200, autocomplete: "off" });
  const kind = select("kind", [{ value: "", text: t("ad.all") }, ...kinds.map((k) => ({ value: k.code, text: label(k) }))], { empty: false });
  const province = select("province", [{ value: "", text: t("ad.all") }, ...provinceOptions], { empty: false });
  const active = select(
    "active",
    [
      { value: "", text: t("ad.all") },
      { value: "true", text: t("ad.p.active") },
      { value: "false", text: t("ad.p.inactive") },
    ],
    { empty: false },
  );
  const filters = h(
    "form",
    { class: "row filters", role: "search" },
    field(t("ad.p.search"), q),
    field(t("ad.p.kind"), kind),
    field(t("ad.p.province"), province),
    field(t("ad.status"), active),
    h("div", { class: "field button-field" }, h("button", { type: "submit" }, t("ad.filter"))),
  );
  const listBox = h("div", { class: "admin-list" });
  let offset = 0;
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    offset = 0;
    load();
  });
  fill(panel, 
    h("div", { class: "row admin-head" }, h("h2", {}, t("ad.p.title")), h("button", { type: "button", class: "primary", onclick: () => editPartner(null) }, t("ad.p.add"))),
    filters,
    listBox,
  );

  async function load() {
    loading(listBox);
    let page;
    try {
      page = await get(
        `/api/v1/partners${query({ q: q.value.trim(), kind: kind.value, province: province.value, active: active.value, limit: PAGE, offset })}`,
      );
    } catch (err) {
      clear(listBox);
      ctx.error(err);
      return;
    }
    const pager = h(
      "div",
      { class: "row pager" },
      h("span", { class: "muted" }, page.total ? t("ad.p.count", { from: offset + 1, to: offset + page.partners.length, n: page.total }) : ""),
      h("button", { type: "button", disabled: offset === 0, onclick: () => ((offset = Math.max(0, offset - PAGE)), load()) }, t("ad.p.prev")),
      h("button", { type: "button", disabled: offset + PAGE >= page.total, onclick: () => ((offset += PAGE), load()) }, t("ad.p.next")),
    );
    fill(clear(listBox), 
      table(
        [
          { text: t("ad.p.name"), value: (p) => p.name },
          { text: t("ad.p.kind"), value: (p) => kindName(p.kind) },
          { text: t("ad.p.province"), value: (p) => provinceName(p.province) },
          { text: t("ad.p.points"), class: "num", value: (p) => String(p.contact_points_count) },
          {
            text: t("ad.status"),
            value: (p) => h("span", { class: p.active ? "badge available" : "badge" }, t(p.active ? "ad.p.active" : "ad.p.inactive")),
          },
          { text: t("ad.p.updated"), value: (p) => fmtDateTime(p.updated_at) },
          {
            text: t("ad.actions"),
            class: "cell-actions",
            value: (p) => small({ "aria-label": t("ad.p.edit_label", { n: p.name }), onclick: () => editPartner(p) }, t("ad.edit")),
          },
        ],
        page.partners,
        { empty: t("ad.p.none") },
      ),
      page.total > PAGE ? pager : null,
    );
  }

  async function editPartner(summary) {
    let partner = null;
    if (summary) {
      try {
        partner = await get(`/api/v1/partners/${summary.id}`);
      } catch (err) {
        ctx.error(err);
        return;
      }
    }
    const answer = await formDialog(partner ? t("ad.p.edit_title") : t("ad.p.new_title"), {
      wide: true,
      submitText: partner ? t("save") : t("ad.p.add"),
      messages: { "409:name": t("ad.p.duplicate") },
      build: (form) => {
        const name = h("input", { name: "name", "data-field": "name", required: true, maxlength: 300, autocomplete: "off", value: partner?.name });
        // a retired kind stays possible for a partner that has it already
        const kindChoices = kinds.filter((k) => !k.retired || k.code === partner?.kind).map((k) => ({ value: k.code, text: label(k) }));
        const kindSelect = select("kind", kindChoices, { value: partner?.kind || "", required: true });
        kindSelect.dataset.field = "kind";
        const provinceSelect = select("province", [{ value: "", text: t("ad.p.national") }, ...provinceOptions], {
          value: partner?.province || "",
          empty: false,
        });
        provinceSelect.dataset.field = "province";
        const activeBox = h("input", { type: "checkbox", name: "active", "data-field": "active", checked: partner ? partner.active : true });
        const points = h("div", { class: "contact-points" });
        const addPoint = h("button", { type: "button", onclick: () => addRow({}, true) }, t("ad.p.point.add"));
        const renumber = () => {
          [...points.children].forEach((row, i) => {
            row.querySelector("legend").textContent = t("ad.p.point", { n: i + 1 });
            row.querySelector("button").setAttribute("aria-label", t("ad.p.point.remove", { n: i + 1 }));
            for (const input of row.querySelectorAll("input")) input.dataset.field = `contact_points.${i}.${input.name}`;
          });
          addPoint.disabled = points.children.length >= 20;
        };
        function addRow(cp, focus) {
          const input = (n, type, max) =>
            h("input", { name: n, type, maxlength: max, autocomplete: "off", required: n === "name", value: cp[n] || null });
          const nameIn = input("name", "text", 200);
          const row = h(
            "fieldset",
            { class: "contact-point" },
            h("legend", {}),
            h(
              "div",
              { class: "row" },
              field(t("ad.p.point.name"), nameIn),
              field(t("ad.p.point.role"), input("role", "text", 200)),
              field(t("ad.p.point.phone"), input("phone", "tel", 40)),
              field(t("ad.p.point.email"), input("email", "email", 254)),
              h(
                "div",
                { class: "field" },
                h(
                  "button",
                  {
                    type: "button",
                    class: "small",
                    onclick: () => {
                      row.remove();
                      renumber();
                      addPoint.focus();
                    },
                  },
                  "✕",
                ),
              ),
            ),
          );
          fill(points, row);
          renumber();
          if (focus) nameIn.focus();
        }
        for (const cp of partner?.contact_points || []) addRow(cp, false);
        renumber();
        fill(form, 
          h(
            "div",
            { class: "grid admin-form-two" },
            field(t("ad.p.name"), name),
            field(t("ad.p.kind"), kindSelect),
            field(t("ad.p.province"), provinceSelect),
            checkField(activeBox, t("ad.p.active.field"), t("ad.p.active.hint")),
          ),
          h(
            "fieldset",
            { "data-field": "contact_points" },
            h("legend", {}, t("ad.p.points.title")),
            h("p", { class: "hint" }, t("ad.p.points.notice")),
            points,
            addPoint,
          ),
        );
        return () => {
          const cps = [...points.children].map((row) => {
            const value = (n) => row.querySelector(`input[name=${n}]`).value.trim() || null;
            return { name: value("name"), role: value("role"), phone: value("phone"), email: value("email") };
          });
          const body = {
            name: name.value.trim(),
            kind: kindSelect.value,
            province: provinceSelect.value || null,
            active: activeBox.checked,
            contact_points: cps,
          };
          if (!partner) return body;
          const changed = {};
          if (body.name !== partner.name) changed.name = body.name;
          if (body.kind !== partner.kind) changed.kind = body.kind;
          if (body.province !== partner.province) changed.province = body.province;
          if (body.active !== partner.active) changed.active = body.active;
          const norm = (list) => JSON.stringify(list.map((p) => [p.name, p.role || null, p.phone || null, p.email || null]));
          if (norm(cps) !== norm(partner.contact_points)) changed.contact_points = cps;
          if (!Object.keys(changed).length) throw new FormProblem(t("ad.nothing_changed"));
          return changed;
        };
      },
      submit: (body) => (partner ? patch(`/api/v1/partners/${partner.id}`, body) : post("/api/v1/partners", body)),
    });
    partner = null; // the contact points are not kept once the dialog is closed
    if (answer === undefined) return;
    toast(t(summary ? "ad.p.saved" : "ad.p.created", { n: answer.name }), "ok");
    load();
  }

  await load();
}

// The pager of a list walked with before_id (the quarantine, the audit log): `pages` holds the
// before_id of each page seen so far (null: the newest) and is changed in place; `next` is the
// answer's next_before_id.
function pager(pages, next, load) {
  return h(
    "div",
    { class: "row pager" },
    h("span", { class: "muted" }, t("ad.a.page", { n: pages.length })),
    h("button", { type: "button", disabled: pages.length === 1 && pages[0] === null, onclick: () => (pages.splice(0, pages.length, null), load()) }, t("ad.a.newest")),
    h("button", { type: "button", disabled: pages.length === 1, onclick: () => (pages.pop(), load()) }, t("ad.a.newer")),
    h("button", { type: "button", disabled: next === null, onclick: () => (pages.push(next), load()) }, t("ad.a.older")),
  );
}

// ---- 5. quarantine -------------------------------------------------------------------------------

async function quarantineTab(panel, ctx) {
  await switchboards();
  const statusFilter = select(
    "status",
    ["held", "replayed", "discarded"].map((s) => ({ value: s, text: t(`ad.q.status.${s}`) })),
    { value: memory.quarantineStatus, empty: false },
  );
  const boardFilter = select("switchboard", boardOptions(true), { value: memory.quarantineBoard, empty: false });
  const listBox = h("div", { class: "admin-list" });
  // pages of 100 are walked with before_id; the ones already seen are kept to step back
  let pages = [null];
  for (const control of [statusFilter, boardFilter]) {
    control.addEventListener("change", () => {
      memory.quarantineStatus = statusFilter.value;
      memory.quarantineBoard = boardFilter.value;
      pages = [null];
      load();
    });
  }
  fill(panel, 
    h(
      "div",
      { class: "row admin-head" },
      h("h2", {}, t("ad.q.title")),
      field(t("ad.status"), statusFilter),
      field(t("ad.board"), boardFilter),
      h("div", { class: "field button-field" }, h("button", { type: "button", onclick: () => load() }, t("ad.refresh"))),
    ),
    h("p", { class: "muted" }, t("ad.q.intro")),
    listBox,
  );

  const sourceName = (s) => s.toUpperCase();

  async function load() {
    loading(listBox);
    const before = pages[pages.length - 1];
    let page;
    try {
      page = await get(`/api/v1/quarantine${query({ status: statusFilter.value, switchboard: boardFilter.value, before_id: before })}`);
    } catch (err) {
      clear(listBox);
      ctx.error(err);
      return;
    }
    const rows = page.bodies;
    const nav = pages.length > 1 || page.next_before_id !== null ? pager(pages, page.next_before_id, load) : null;
    fill(clear(listBox), 
      page.total ? h("p", { class: "muted" }, t("ad.q.total", { n: fmtNumber(page.total) })) : null,
      table(
        [
          { text: "#", class: "num", value: (q) => String(q.id) },
          { text: t("ad.q.received"), value: (q) => fmtDateTime(q.received_at) },
          { text: t("ad.board"), value: (q) => boardName(q.switchboard) },
          { text: t("ad.q.source"), value: (q) => sourceName(q.source) },
          { text: t("ad.q.code"), class: "num", value: (q) => String(q.status_code) },
          {
            text: t("ad.q.reason"),
            class: "reason",
            value: (q) => [q.reason, q.event_index !== null ? h("small", {}, ` (${t("ad.q.event", { n: q.event_index + 1 })})`) : null],
          },
          {
            text: t("ad.status"),
            value: (q) => [
              h("span", { class: q.status === "held" ? "badge reserved" : "badge" }, t(`ad.q.status.${q.status}`)),
              q.resolved_at ? h("small", { class: "block" }, t("ad.q.resolved", { t: fmtDateTime(q.resolved_at), by: q.resolved_by || "—" })) : null,
            ],
          },
          {
            text: t("ad.actions"),
            class: "cell-actions",
            value: (q) => [
              small({ "aria-label": t("ad.q.view_label", { id: q.id }), onclick: () => view(q) }, t("ad.q.view")),
              q.status === "held" ? small({ "aria-label": t("ad.q.replay_label", { id: q.id }), onclick: () => replay(q) }, t("ad.q.replay")) : null,
              q.status === "held" ? small({ class: "small danger", "aria-label": t("ad.q.discard_label", { id: q.id }), onclick: () => discard(q) }, t("ad.q.discard")) : null,
            ],
          },
        ],
        rows,
        { empty: t("ad.q.none") },
      ),
      nav,
    );
  }

  async function view(summary) {
    let q;
    try {
      q = await get(`/api/v1/quarantine/${summary.id}`);
    } catch (err) {
      ctx.error(err);
      return;
    }
    const next = await modal(t("ad.q.view_title", { id: q.id }), (dialog, close) => {
      dialog.classList.add("wide");
      const fact = (name, value) => [h("dt", {}, name), h("dd", {}, value ?? "—")];
      fill(dialog, 
        h("p", { class: "notice warn" }, t("ad.q.view_notice")),
        h(
          "dl",
          { class: "facts" },
          fact(t("ad.board"), boardName(q.switchboard)),
          fact(t("ad.q.source"), sourceName(q.source)),
          fact(t("ad.q.received"), fmtDateTime(q.received_at)),
          fact(t("ad.q.code"), String(q.status_code)),
          fact(t("ad.q.content_type"), q.content_type),
          fact(t("ad.q.webhook_id"), q.webhook_id),
          fact(t("ad.q.address"), q.client_address),
          fact(t("ad.status"), t(`ad.q.status.${q.status}`)),
        ),
        h("p", {}, h("strong", {}, `${t("ad.q.reason")}: `), q.reason, q.event_index !== null ? ` (${t("ad.q.event", { n: q.event_index + 1 })})` : ""),
        h("h3", { id: `qbody-${q.id}` }, t("ad.q.body")),
        h("pre", { class: "q-body", tabindex: "0", "aria-labelledby": `qbody-${q.id}` }, q.body),
        h(
          "div",
          { class: "actions" },
          q.status === "held" ? h("button", { type: "button", class: "primary", onclick: () => close("replay") }, t("ad.q.replay")) : null,
          q.status === "held" ? h("button", { type: "button", class: "danger", onclick: () => close("discard") }, t("ad.q.discard")) : null,
          h("button", { type: "button", onclick: () => close(undefined) }, t("close")),
        ),
      );
      dialog.querySelector(".actions button").focus();
    });
    q = null; // the body is not kept once the dialog is closed
    if (next === "replay") await replay(summary);
    else if (next === "discard") await discard(summary);
  }

  async function replay(q) {
    let result;
    let failure = null;
    try {
      result = await post(`/api/v1/quarantine/${q.id}/replay`, {});
    } catch (err) {
      if (!(err instanceof ApiError) || ![409, 422].includes(err.status)) {
        ctx.error(err);
        return;
      }
      failure = err.status === 409 ? t("ad.q.resolved_already") : t("ad.q.replay.failed", { m: err.message });
    }
    await modal(t("ad.q.replay.title", { id: q.id }), (dialog, close) => {
      const ok = h("button", { type: "button", class: "primary", onclick: () => close() }, t("close"));
      fill(dialog, 
        failure
          ? h("p", { class: "notice danger", role: "alert" }, failure)
          : h("p", { class: "notice ok", role: "status" }, t("ad.q.replay.ok", result.result)),
        h("div", { class: "actions" }, ok),
      );
      ok.focus();
    });
    load();
  }

  async function discard(q) {
    const ok = await confirmDialog(t("ad.q.discard.title", { id: q.id }), t("ad.q.discard.confirm"), { confirmText: t("ad.q.discard"), danger: true });
    if (!ok) return;
    try {
      await post(`/api/v1/quarantine/${q.id}/discard`, {});
      toast(t("ad.q.discarded", { id: q.id }), "ok");
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) toast(t("ad.q.resolved_already"), "error");
      else ctx.error(err);
    }
    load();
  }

  await load();
}

// ---- 6. audit log --------------------------------------------------------------------------------

const ACTIONS = [
  "login",
  "logout",
  "create",
  "update",
  "read",
  "reset_password",
  "change_password",
  "revoke_sessions",
  "issue_credential",
  "revoke_credential",
  "set_allowed_networks",
  "view_quarantined_body",
  "replay",
  "discard",
  "view_number",
  "search_by_number",
  "set_presence",
  "update_routing_settings",
  "run",
  "export",
  "purge",
  "purge_dry_run",
  "deactivate",
  "reactivate",
  "note_added",
  "person_added",
  "transition",
  "view_recording",
];
const OBJECTS = ["user", "switchboard", "webhook_quarantine", "code", "partner", "call", "case", "contact_record", "referral", "report", "retention"];

async function auditTab(panel, ctx) {
  const names = new Map();
  try {
    for (const u of await get("/api/v1/users")) names.set(u.id, u.display_name);
  } catch (err) {
    // names are a convenience: the entries carry the actor's label anyway
  }

  // verification
  const verifyResult = h("div", { class: "verify-result", role: "status", "aria-live": "polite" });
  const verifyButton = h("button", { type: "button", class: "primary", onclick: () => verify() }, t("ad.a.verify"));

  // filters and paging
  // any action may be typed (domains add their own); the known ones are offered with their names
  const actionList = h("datalist", { id: "ad-actions" }, ACTIONS.map((a) => h("option", { value: a }, known("act", a))));
  const action = h("input", { name: "action", list: "ad-actions", maxlength: 64, autocomplete: "off", spellcheck: "false" });
  const objectType = select("object_type", [{ value: "", text: t("ad.all") }, ...OBJECTS.map((o) => ({ value: o, text: known("obj", o) }))], { empty: false });
  const objectId = h("input", { name: "object_id", maxlength: 200, autocomplete: "off", spellcheck: "false" });
  const pageSize = select("limit", ["20", "50", "100", "200"].map((n) => ({ value: n, text: n })), { value: "50", empty: false });
  const filters = h(
    "form",
    { class: "row filters" },
    field(t("ad.a.action"), action, t("ad.a.action.hint")),
    actionList,
    field(t("ad.a.object_type"), objectType),
    field(t("ad.a.object_id"), objectId),
    field(t("ad.a.page_size"), pageSize),
    h("div", { class: "field button-field" }, h("button", { type: "submit" }, t("ad.filter"))),
  );
  const listBox = h("div", { class: "admin-list" });
  // pages are walked with before_id; the ones already seen are kept to step back
  let pages = [null];
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    pages = [null];
    load();
  });

  fill(panel, 
    h("h2", {}, t("ad.a.title")),
    h("section", { class: "card", "aria-labelledby": "verify-title" }, h("h3", { id: "verify-title" }, t("ad.a.verify")), h("p", { class: "muted" }, t("ad.a.verify.intro")), h("div", { class: "actions" }, verifyButton), verifyResult),
    filters,
    listBox,
  );

  async function verify() {
    verifyButton.disabled = true;
    fill(clear(verifyResult), h("p", { class: "muted" }, t("ad.a.verify.running")));
    try {
      const r = await get("/api/v1/audit/verify");
      if (r.ok) {
        fill(clear(verifyResult), h("p", { class: "notice ok" }, t("ad.a.verify.ok", { n: r.entries })));
      } else {
        fill(clear(verifyResult), 
          h("p", { class: "notice danger" }, t("ad.a.verify.bad", { id: r.first_bad_id, n: r.entries, p: r.problem })),
          r.first_bad_id
            ? h(
                "button",
                {
                  type: "button",
                  onclick: () => {
                    // the page that starts a little after the broken entry, whatever the filters
                    action.value = "";
                    objectType.value = "";
                    objectId.value = "";
                    pages = [r.first_bad_id + 3];
                    load();
                  },
                },
                t("ad.a.verify.show", { id: r.first_bad_id }),
              )
            : null,
        );
      }
    } catch (err) {
      clear(verifyResult);
      ctx.error(err);
    } finally {
      verifyButton.disabled = false;
    }
  }

  async function load() {
    loading(listBox);
    const before = pages[pages.length - 1];
    let page;
    try {
      page = await get(
        `/api/v1/audit${query({ action: action.value.trim(), object_type: objectType.value, object_id: objectId.value.trim(), limit: pageSize.value, before_id: before })}`,
      );
    } catch (err) {
      clear(listBox);
      ctx.error(err);
      return;
    }
    const actor = (e) => {
      const name = e.actor_user_id !== null ? names.get(e.actor_user_id) : null;
      return name ? [name, h("small", { class: "block" }, e.actor)] : e.actor;
    };
    const nav = pager(pages, page.next_before_id, load);
    fill(clear(listBox), 
      table(
        [
          { text: "#", class: "num", value: (e) => String(e.id) },
          { text: t("ad.a.at"), value: (e) => fmtDateTime(e.at) },
          { text: t("ad.a.actor"), value: actor },
          { text: t("ad.a.action"), value: (e) => known("act", e.action) },
          { text: t("ad.a.object"), value: (e) => `${known("obj", e.object_type)}${e.object_id !== null ? ` ${e.object_id}` : ""}` },
          {
            text: t("ad.a.details"),
            class: "details",
            value: (e) => (Object.keys(e.details || {}).length ? h("code", {}, JSON.stringify(e.details)) : "—"),
          },
          { text: t("ad.a.address"), value: (e) => e.client_address || "—" },
        ],
        page.entries,
        { caption: t("ad.a.entries"), empty: t("ad.a.none") },
      ),
      nav,
    );
  }

  await load();
}
