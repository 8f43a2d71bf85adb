// Vietnamese first, English second. Each view module adds its own strings with addStrings();
// t() falls back to Vietnamese, then to the key itself (a missing string shows, it does not break).

const strings = { vi: {}, en: {} };
const STORE = "hotline.lang";
let current = localStorage.getItem(STORE) === "en" ? "en" : "vi";

export function addStrings(table) {
  for (const lang of ["vi", "en"]) Object.assign(strings[lang], table[lang] || {});
}

export function lang() {
  return current;
}

export function setLang(value) {
  current = value === "en" ? "en" : "vi";
  localStorage.setItem(STORE, current);
  document.documentElement.lang = current;
}

// t("key") or t("key", {n: 3}) with {n} placeholders
export function t(key, params) {
  let text = strings[current][key] ?? strings.vi[key] ?? key;
  if (params) {
    for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

// a code list entry's label in the current language
export function label(code) {
  if (!code) return "";
  return current === "en" ? code.label_en : code.label_vi;
}

addStrings({
  vi: {
    "app.title": "Tổng đài 111 — Bảng điều khiển",
    "app.brand": "Tổng đài 111",
    "app.skip": "Chuyển đến nội dung chính",
    "lang.switch": "English",
    "lang.switch.label": "Chuyển sang tiếng Anh",
    "nav.counsellor": "Trực tổng đài",
    "nav.supervisor": "Giám sát",
    "nav.cases": "Hồ sơ vụ việc",
    "nav.reports": "Báo cáo",
    "nav.admin": "Quản trị",
    "nav.main": "Các màn hình",
    "login.title": "Đăng nhập",
    "login.intro": "Bảng điều khiển của Tổng đài quốc gia phòng, chống mua bán người.",
    "login.username": "Tên đăng nhập",
    "login.password": "Mật khẩu",
    "login.submit": "Đăng nhập",
    "login.wrong": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "login.throttled": "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {s} giây.",
    "login.expired": "Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.",
    "login.idle": "Bạn đã được đăng xuất vì không hoạt động trong {m} phút.",
    "login.signedout": "Bạn đã đăng xuất.",
    "logout": "Đăng xuất",
    "idle.title": "Bạn còn ở đây không?",
    "idle.body": "Để bảo vệ dữ liệu, bạn sẽ được đăng xuất sau {s} giây nếu không thao tác.",
    "idle.stay": "Tiếp tục làm việc",
    "error.network": "Không kết nối được với máy chủ. Đang thử lại…",
    "error.generic": "Đã có lỗi: {m}",
    "error.forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "error.notfound": "Không tìm thấy, hoặc bạn không có quyền xem.",
    "saved": "Đã lưu.",
    "loading": "Đang tải…",
    "none": "Không có",
    "yes": "Có",
    "no": "Không",
    "unknown": "Chưa rõ",
    "close": "Đóng",
    "cancel": "Huỷ",
    "save": "Lưu",
    "choose": "— Chọn —",
    "live.on": "Trực tuyến",
    "live.off": "Mất kết nối trực tiếp — đang kết nối lại",
    "role.counsellor": "Tư vấn viên",
    "role.supervisor": "Giám sát viên",
    "role.national_supervisor": "Giám sát viên quốc gia",
    "role.analyst": "Phân tích viên",
    "role.admin": "Quản trị viên",
    "board.hanoi": "Hà Nội",
    "board.danang": "Đà Nẵng",
    "board.angiang": "An Giang",
    "region.north": "Miền Bắc",
    "region.central": "Miền Trung",
    "region.south": "Miền Nam",
    "state.offline": "Ngoại tuyến",
    "state.available": "Sẵn sàng",
    "state.break": "Tạm nghỉ",
    "state.reserved": "Đang đổ chuông",
    "state.on_call": "Đang nghe máy",
    "state.wrap_up": "Ghi nhận sau cuộc gọi",
    "state.missed": "Lỡ cuộc gọi",
    "outcome.answered": "Đã trả lời",
    "outcome.abandoned": "Người gọi bỏ máy",
    "outcome.timeout": "Hết thời gian chờ",
    "outcome.silent": "Im lặng",
    "outcome.not_queued": "Kết thúc ở lời chào",
    "outcome.failed": "Không kết nối",
    "outcome.in_progress": "Đang diễn ra",
    "outcome.overflowed": "Chuyển vùng",
    "status.open": "Đang mở",
    "status.follow_up": "Theo dõi",
    "status.closed": "Đã đóng",
  },
  en: {
    "app.title": "Hotline 111 — Console",
    "app.brand": "Hotline 111",
    "app.skip": "Skip to the main content",
    "lang.switch": "Tiếng Việt",
    "lang.switch.label": "Switch to Vietnamese",
    "nav.counsellor": "Take calls",
    "nav.supervisor": "Wallboard",
    "nav.cases": "Cases",
    "nav.reports": "Reports",
    "nav.admin": "Administration",
    "nav.main": "Screens",
    "login.title": "Sign in",
    "login.intro": "The console of Vietnam's national anti-trafficking hotline.",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.wrong": "Wrong user name or password.",
    "login.throttled": "Too many failed sign-ins. Try again in {s} seconds.",
    "login.expired": "Your session has expired. Please sign in again.",
    "login.idle": "You were signed out after {m} minutes without activity.",
    "login.signedout": "You have signed out.",
    "logout": "Sign out",
    "idle.title": "Are you still there?",
    "idle.body": "To protect the data you will be signed out in {s} seconds unless you continue.",
    "idle.stay": "Continue working",
    "error.network": "Cannot reach the server. Retrying…",
    "error.generic": "Something went wrong: {m}",
    "error.forbidden": "You may not do this.",
    "error.notfound": "Not found, or not yours to see.",
    "saved": "Saved.",
    "loading": "Loading…",
    "none": "None",
    "yes": "Yes",
    "no": "No",
    "unknown": "Unknown",
    "close": "Close",
    "cancel": "Cancel",
    "save": "Save",
    "choose": "— Choose —",
    "live.on": "Live",
    "live.off": "Live updates lost — reconnecting",
    "role.counsellor": "Counsellor",
    "role.supervisor": "Supervisor",
    "role.national_supervisor": "National supervisor",
    "role.analyst": "Analyst",
    "role.admin": "Administrator",
    "board.hanoi": "Hà Nội",
    "board.danang": "Đà Nẵng",
    "board.angiang": "An Giang",
    "region.north": "North",
    "region.central": "Central",
    "region.south": "South",
    "state.offline": "Offline",
    "state.available": "Available",
    "state.break": "On a break",
    "state.reserved": "Ringing",
    "state.on_call": "On a call",
    "state.wrap_up": "Wrap-up",
    "state.missed": "Missed a call",
    "outcome.answered": "Answered",
    "outcome.abandoned": "Abandoned",
    "outcome.timeout": "Timed out",
    "outcome.silent": "Silent",
    "outcome.not_queued": "Ended in the greeting",
    "outcome.failed": "Failed",
    "outcome.in_progress": "In progress",
    "outcome.overflowed": "Overflowed",
    "status.open": "Open",
    "status.follow_up": "Follow-up",
    "status.closed": "Closed",
  },
});
