"""records: code lists, contact records, cases and the people in them, partners, referrals

Codes are seeded here (PRODUCT.md §3, with the lists the forms need besides), labels in Vietnamese
and English; admins add and retire codes later through the API (each change a new list version).

Revision ID: 0009_records
Revises: 0008_route_function
Create Date: 2026-11-28 16:10:26.783420
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_records"
down_revision: str | Sequence[str] | None = "0008_route_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, label_vi, label_en, system, [(code, label_vi, label_en), ...]); system lists hold the codes the
# service's rules rely on: codes may be added to them, never retired
CODE_LISTS: list[tuple[str, str, str, bool, list[tuple[str, str, str]]]] = [
    (
        "caller_category",
        "Nhóm người gọi",
        "Caller category",
        False,
        [
            ("victim", "Nạn nhân", "Victim"),
            ("relative_or_friend", "Người thân hoặc bạn bè", "Relative or friend"),
            ("community_member", "Người dân trong cộng đồng", "Community member"),
            ("official", "Cán bộ, cơ quan chức năng", "Official"),
            ("prospective_migrant", "Người có ý định di cư, đi làm việc", "Prospective migrant"),
            ("other", "Khác", "Other"),
            ("unknown", "Không rõ", "Unknown"),
        ],
    ),
    (
        "contact_type",
        "Loại cuộc gọi",
        "Contact type",
        True,
        [
            ("crisis", "Khẩn cấp, cần can thiệp ngay", "Crisis"),
            ("tip", "Tin báo", "Tip"),
            ("information", "Hỏi thông tin", "Information"),
            ("counselling", "Tư vấn", "Counselling"),
            ("missing_person", "Tìm người mất tích", "Missing person"),
            ("returned_victim_support", "Hỗ trợ nạn nhân trở về", "Returned victim support"),
            ("referral_followup", "Theo dõi chuyển tuyến", "Referral follow-up"),
            ("not_trafficking", "Không liên quan đến mua bán người", "Not trafficking"),
            ("silent", "Cuộc gọi im lặng", "Silent call"),
            ("nuisance", "Cuộc gọi quấy rối", "Nuisance call"),
            ("wrong_number", "Gọi nhầm số", "Wrong number"),
        ],
    ),
    (
        "trafficking_form",
        "Hình thức mua bán người",
        "Form of trafficking",
        False,
        [
            ("sexual_exploitation", "Bóc lột tình dục", "Sexual exploitation"),
            ("forced_labour", "Cưỡng bức lao động", "Forced labour"),
            ("forced_criminality", "Cưỡng bức phạm tội", "Forced criminality"),
            ("forced_marriage", "Cưỡng ép kết hôn", "Forced marriage"),
            ("forced_adoption", "Cho, nhận con nuôi trái pháp luật", "Forced or illegal adoption"),
            ("surrogacy", "Mang thai hộ vì mục đích thương mại", "Commercial surrogacy"),
            ("organ_removal", "Lấy bộ phận cơ thể", "Organ removal"),
            ("forced_begging", "Cưỡng bức ăn xin", "Forced begging"),
            ("servitude", "Lệ thuộc, nô lệ", "Servitude"),
            ("other", "Khác", "Other"),
        ],
    ),
    (
        "referral_type",
        "Loại chuyển tuyến",
        "Referral type",
        False,
        [
            ("rescue_investigation", "Giải cứu, điều tra", "Rescue and investigation"),
            ("missing_person_search", "Tìm kiếm người mất tích", "Missing person search"),
            ("returned_victim_support", "Hỗ trợ nạn nhân trở về", "Returned victim support"),
            ("legal_aid", "Trợ giúp pháp lý", "Legal aid"),
            ("medical", "Chăm sóc y tế", "Medical care"),
            ("psychological", "Hỗ trợ tâm lý", "Psychological support"),
            ("shelter", "Nơi tạm trú", "Shelter"),
            ("education_vocational", "Học văn hóa, học nghề", "Education and vocational training"),
            ("other", "Khác", "Other"),
        ],
    ),
    (
        "partner_kind",
        "Loại đối tác",
        "Partner kind",
        True,
        [
            ("police", "Công an", "Police"),
            ("border_guard", "Bộ đội Biên phòng", "Border guard"),
            ("ngo", "Tổ chức phi chính phủ", "NGO"),
            ("womens_union", "Hội Liên hiệp Phụ nữ", "Women's Union"),
            ("social_protection", "Cơ sở bảo trợ xã hội", "Social protection"),
            ("health", "Cơ sở y tế", "Health"),
            ("legal_aid", "Trợ giúp pháp lý", "Legal aid"),
            ("embassy", "Đại sứ quán, lãnh sự quán", "Embassy or consulate"),
            ("other", "Khác", "Other"),
        ],
    ),
    (
        "referral_status",
        "Trạng thái chuyển tuyến",
        "Referral status",
        True,
        [
            ("draft", "Bản nháp", "Draft"),
            ("sent", "Đã gửi", "Sent"),
            ("accepted", "Đã tiếp nhận", "Accepted"),
            ("rejected", "Bị từ chối", "Rejected"),
            ("in_progress", "Đang xử lý", "In progress"),
            ("done", "Hoàn thành", "Done"),
            ("revoked", "Đã thu hồi", "Revoked"),
        ],
    ),
    (
        "referral_outcome",
        "Kết quả chuyển tuyến",
        "Referral outcome",
        False,
        [
            ("rescued", "Đã giải cứu", "Rescued"),
            ("investigation_opened", "Đã mở điều tra", "Investigation opened"),
            ("person_located", "Đã tìm thấy người", "Person located"),
            ("reunified", "Đã đoàn tụ gia đình", "Reunified"),
            ("support_provided", "Đã được hỗ trợ", "Support provided"),
            ("no_action_needed", "Không cần can thiệp", "No action needed"),
            ("unreachable", "Không liên lạc được", "Unreachable"),
            ("declined_by_victim", "Nạn nhân từ chối", "Declined by the victim"),
            ("other", "Khác", "Other"),
        ],
    ),
    (
        "case_status",
        "Trạng thái vụ việc",
        "Case status",
        True,
        [
            ("open", "Đang mở", "Open"),
            ("follow_up", "Đang theo dõi", "Follow-up"),
            ("referred", "Đã chuyển tuyến", "Referred"),
            ("closed", "Đã đóng", "Closed"),
        ],
    ),
    (
        "consent",
        "Sự đồng ý của nạn nhân",
        "Victim's consent",
        True,
        [
            ("given", "Đồng ý", "Given"),
            ("refused", "Từ chối", "Refused"),
            ("withdrawn", "Đã rút lại", "Withdrawn"),
            ("not_asked", "Chưa hỏi", "Not asked"),
        ],
    ),
    (
        "age_group",
        "Nhóm tuổi",
        "Age group",
        False,
        [
            ("under_12", "Dưới 12 tuổi", "Under 12"),
            ("age_12_15", "Từ 12 đến 15 tuổi", "12 to 15"),
            ("age_16_17", "16 hoặc 17 tuổi", "16 or 17"),
            ("age_18_24", "Từ 18 đến 24 tuổi", "18 to 24"),
            ("age_25_34", "Từ 25 đến 34 tuổi", "25 to 34"),
            ("age_35_49", "Từ 35 đến 49 tuổi", "35 to 49"),
            ("age_50_plus", "Từ 50 tuổi trở lên", "50 and over"),
            ("unknown", "Không rõ", "Unknown"),
        ],
    ),
    (
        "sex",
        "Giới tính",
        "Sex",
        False,
        [
            ("female", "Nữ", "Female"),
            ("male", "Nam", "Male"),
            ("other", "Khác", "Other"),
            ("unknown", "Không rõ", "Unknown"),
        ],
    ),
    (
        "relationship",
        "Quan hệ với người được nói đến",
        "Caller's relationship to the person concerned",
        False,
        [
            ("self", "Chính là người đó", "Self"),
            ("parent", "Cha, mẹ", "Parent"),
            ("spouse", "Vợ, chồng", "Spouse"),
            ("child", "Con", "Child"),
            ("sibling", "Anh, chị, em", "Sibling"),
            ("other_relative", "Họ hàng khác", "Other relative"),
            ("friend", "Bạn bè", "Friend"),
            ("neighbour", "Hàng xóm", "Neighbour"),
            ("employer_or_colleague", "Chủ sử dụng lao động, đồng nghiệp", "Employer or colleague"),
            ("official", "Cán bộ", "Official"),
            ("other", "Khác", "Other"),
            ("unknown", "Không rõ", "Unknown"),
        ],
    ),
    (
        "risk_level",
        "Mức độ nguy cơ",
        "Risk level",
        False,
        [
            ("low", "Thấp", "Low"),
            ("medium", "Trung bình", "Medium"),
            ("high", "Cao", "High"),
            ("immediate_danger", "Đang gặp nguy hiểm", "In immediate danger"),
        ],
    ),
    (
        "person_role",
        "Vai trò trong vụ việc",
        "Role in the case",
        True,
        [
            ("victim", "Nạn nhân", "Victim"),
            ("caller", "Người gọi", "Caller"),
            ("other", "Khác", "Other"),
        ],
    ),
]


def _seed_codes() -> None:
    lists = sa.table(
        "code_lists",
        sa.column("name", sa.String),
        sa.column("label_vi", sa.Text),
        sa.column("label_en", sa.Text),
        sa.column("version", sa.Integer),
        sa.column("system", sa.Boolean),
        sa.column("updated_by", sa.Text),
    )
    codes = sa.table(
        "codes",
        sa.column("list_name", sa.String),
        sa.column("code", sa.String),
        sa.column("label_vi", sa.Text),
        sa.column("label_en", sa.Text),
        sa.column("position", sa.Integer),
        sa.column("added_in", sa.Integer),
    )
    op.bulk_insert(
        lists,
        [
            {
                "name": n,
                "label_vi": vi,
                "label_en": en,
                "version": 1,
                "system": system,
                "updated_by": "system:migration",
            }
            for n, vi, en, system, _ in CODE_LISTS
        ],
    )
    op.bulk_insert(
        codes,
        [
            {"list_name": n, "code": c, "label_vi": vi, "label_en": en, "position": i, "added_in": 1}
            for n, _, _, _, items in CODE_LISTS
            for i, (c, vi, en) in enumerate(items)
        ],
    )


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_counters")),
    )
    op.create_table(
        "code_lists",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("label_vi", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_code_lists")),
    )
    op.create_table(
        "codes",
        sa.Column("list_name", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("label_vi", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_in", sa.Integer(), nullable=False),
        sa.Column("retired_in", sa.Integer(), nullable=True),
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,47}$'", name=op.f("ck_codes_code_format")),
        sa.ForeignKeyConstraint(
            ["list_name"], ["code_lists.name"], name=op.f("fk_codes_list_name_code_lists")
        ),
        sa.PrimaryKeyConstraint("list_name", "code", name=op.f("pk_codes")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("province_code", sa.String(length=4), nullable=True),
        sa.Column("contact_points_enc", sa.LargeBinary(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["province_code"], ["provinces.code"], name=op.f("fk_partners_province_code_provinces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
    )
    op.create_index("ix_partners_kind_province", "partners", ["kind", "province_code"], unique=False)
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reference", sa.String(length=24), nullable=False),
        sa.Column("switchboard_code", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "status_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("status_changed_by", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("caller_hash", sa.LargeBinary(), nullable=True),
        sa.Column("summary_enc", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'follow_up', 'referred', 'closed')", name=op.f("ck_cases_known_status")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"], ["users.id"], name=op.f("fk_cases_assigned_user_id_users")
        ),
        sa.ForeignKeyConstraint(["opened_by"], ["users.id"], name=op.f("fk_cases_opened_by_users")),
        sa.ForeignKeyConstraint(
            ["status_changed_by"], ["users.id"], name=op.f("fk_cases_status_changed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["switchboard_code"], ["switchboards.code"], name=op.f("fk_cases_switchboard_code_switchboards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    op.create_index(
        "ix_cases_assigned",
        "cases",
        ["assigned_user_id"],
        unique=False,
        postgresql_where="status <> 'closed'",
    )
    op.create_index(
        "ix_cases_caller_hash", "cases", ["caller_hash"], unique=False, postgresql_where="status <> 'closed'"
    )
    op.create_index("ix_cases_switchboard_status", "cases", ["switchboard_code", "status"], unique=False)
    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_case_events_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "at"], unique=False)
    op.create_table(
        "case_notes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_case_notes_author_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id", "at"], unique=False)
    op.create_table(
        "case_persons",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("name_hashes", sa.ARRAY(sa.LargeBinary()), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_hash", sa.LargeBinary(), nullable=True),
        sa.Column("age_group", sa.String(length=48), nullable=True),
        sa.Column("sex", sa.String(length=48), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=True),
        sa.Column("ethnicity", sa.String(length=48), nullable=True),
        sa.Column("trafficking_forms", sa.ARRAY(sa.String(length=48)), nullable=False),
        sa.Column("destination_country", sa.String(length=2), nullable=True),
        sa.Column("risk_level", sa.String(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_persons_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_persons")),
    )
    op.create_index("ix_case_persons_case", "case_persons", ["case_id"], unique=False)
    op.create_index(
        "ix_case_persons_name_hashes", "case_persons", ["name_hashes"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_case_persons_phone_hash", "case_persons", ["phone_hash"], unique=False)
    op.create_table(
        "contact_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.Column("switchboard_code", sa.String(length=32), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("caller_category", sa.String(length=48), nullable=False),
        sa.Column("contact_type", sa.String(length=48), nullable=False),
        sa.Column("trafficking_related", sa.Boolean(), nullable=True),
        sa.Column("trafficking_forms", sa.ARRAY(sa.String(length=48)), nullable=False),
        sa.Column("relationship", sa.String(length=48), nullable=True),
        sa.Column("age_group", sa.String(length=48), nullable=True),
        sa.Column("sex", sa.String(length=48), nullable=True),
        sa.Column("province_code", sa.String(length=4), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column("consent", sa.String(length=16), nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "consent IS NULL OR consent IN ('given', 'refused', 'withdrawn', 'not_asked')",
            name=op.f("ck_contact_records_known_consent"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_contact_records_author_user_id_users")
        ),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_contact_records_call_id_calls")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_contact_records_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["province_code"], ["provinces.code"], name=op.f("fk_contact_records_province_code_provinces")
        ),
        sa.ForeignKeyConstraint(
            ["switchboard_code"],
            ["switchboards.code"],
            name=op.f("fk_contact_records_switchboard_code_switchboards"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_contact_records_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_records")),
        sa.UniqueConstraint("call_id", name=op.f("uq_contact_records_call_id")),
    )
    op.create_index(
        "ix_contact_records_author", "contact_records", ["author_user_id", "created_at"], unique=False
    )
    op.create_index("ix_contact_records_case", "contact_records", ["case_id"], unique=False)
    op.create_table(
        "referrals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("referral_type", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "status_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("consent", sa.String(length=24), nullable=False),
        sa.Column("override_by", sa.Integer(), nullable=True),
        sa.Column("override_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("external_reference", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'sent', 'accepted', 'rejected', 'in_progress', 'done', 'revoked')",
            name=op.f("ck_referrals_known_status"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_referrals_created_by_users")),
        sa.ForeignKeyConstraint(["override_by"], ["users.id"], name=op.f("fk_referrals_override_by_users")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_referrals_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_case", "referrals", ["case_id"], unique=False)
    op.create_index("ix_referrals_status_since", "referrals", ["status", "status_changed_at"], unique=False)
    op.create_table(
        "referral_transitions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("referral_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_referral_transitions_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_transitions_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_transitions")),
    )
    op.create_index(
        "ix_referral_transitions_referral", "referral_transitions", ["referral_id", "at"], unique=False
    )
    _seed_codes()


def downgrade() -> None:
    op.drop_index("ix_referral_transitions_referral", table_name="referral_transitions")
    op.drop_table("referral_transitions")
    op.drop_index("ix_referrals_status_since", table_name="referrals")
    op.drop_index("ix_referrals_case", table_name="referrals")
    op.drop_table("referrals")
    op.drop_index("ix_contact_records_case", table_name="contact_records")
    op.drop_index("ix_contact_records_author", table_name="contact_records")
    op.drop_table("contact_records")
    op.drop_index("ix_case_persons_phone_hash", table_name="case_persons")
    op.drop_index("ix_case_persons_name_hashes", table_name="case_persons", postgresql_using="gin")
    op.drop_index("ix_case_persons_case", table_name="case_persons")
    op.drop_table("case_persons")
    op.drop_index("ix_case_notes_case", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_case_events_case", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_switchboard_status", table_name="cases")
    op.drop_index("ix_cases_caller_hash", table_name="cases", postgresql_where="status <> 'closed'")
    op.drop_index("ix_cases_assigned", table_name="cases", postgresql_where="status <> 'closed'")
    op.drop_table("cases")
    op.drop_index("ix_partners_kind_province", table_name="partners")
    op.drop_table("partners")
    op.drop_table("codes")
    op.drop_table("code_lists")
    op.drop_table("case_counters")
