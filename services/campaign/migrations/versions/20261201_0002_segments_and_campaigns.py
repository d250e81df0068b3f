"""segments and campaigns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 15:29:09.520977
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audience_customers',
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=16), server_default=sa.text("'individual'"), nullable=False),
    sa.Column('display_name', sa.String(length=300), nullable=True),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('region', sa.String(length=200), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('customer_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=64)), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('consent_email', sa.String(length=16), nullable=True),
    sa.Column('consent_sms', sa.String(length=16), nullable=True),
    sa.Column('consent_mail', sa.String(length=16), nullable=True),
    sa.Column('consent_phone', sa.String(length=16), nullable=True),
    sa.Column('consent_email_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_sms_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_mail_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_phone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('preferred_channel', sa.String(length=16), nullable=True),
    sa.Column('max_contacts_per_month', sa.Integer(), nullable=True),
    sa.Column('merged_into', sa.UUID(), nullable=True),
    sa.Column('customer_version', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('abc_class', sa.String(length=1), nullable=True),
    sa.Column('rfm_segment', sa.String(length=64), nullable=True),
    sa.Column('gold', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('drag', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('clv', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('p_alive', sa.Float(), nullable=True),
    sa.Column('churn_risk', sa.Float(), nullable=True),
    sa.Column('composite_score', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('scores_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("abc_class IN ('A', 'B', 'C')", name=op.f('ck_audience_customers_abc_class')),
    sa.CheckConstraint("consent_email IN ('opted_in', 'opted_out')", name=op.f('ck_audience_customers_consent_email')),
    sa.CheckConstraint("consent_mail IN ('opted_in', 'opted_out')", name=op.f('ck_audience_customers_consent_mail')),
    sa.CheckConstraint("consent_phone IN ('opted_in', 'opted_out')", name=op.f('ck_audience_customers_consent_phone')),
    sa.CheckConstraint("consent_sms IN ('opted_in', 'opted_out')", name=op.f('ck_audience_customers_consent_sms')),
    sa.CheckConstraint("kind IN ('individual', 'company')", name=op.f('ck_audience_customers_kind')),
    sa.CheckConstraint("preferred_channel IN ('email', 'sms', 'mail', 'phone')", name=op.f('ck_audience_customers_preferred_channel')),
    sa.CheckConstraint('max_contacts_per_month >= 0', name=op.f('ck_audience_customers_max_contacts')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_audience_customers'))
    )
    op.create_index('ix_audience_customers_tags', 'audience_customers', ['tags'], unique=False, postgresql_using='gin')
    op.create_table('global_holdouts',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('share', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_global_holdouts_period')),
    sa.CheckConstraint('share > 0 AND share < 1', name=op.f('ck_global_holdouts_share')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_global_holdouts'))
    )
    op.create_table('segments',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('rules', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('mode', sa.String(length=16), server_default=sa.text("'dynamic'"), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("mode IN ('dynamic', 'frozen')", name=op.f('ck_segments_mode')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('name', name=op.f('uq_segments_name'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('objective', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), server_default=sa.text("'marketing'"), nullable=False),
    sa.Column('segment_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cost_per_contact', sa.Numeric(precision=12, scale=4), server_default=sa.text('0'), nullable=False),
    sa.Column('budget', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('control_share', sa.Numeric(precision=5, scale=4), server_default=sa.text('0.1'), nullable=False),
    sa.Column('stratify_by_abc', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('attribution_days', sa.Integer(), server_default=sa.text('30'), nullable=False),
    sa.Column('status', sa.String(length=16), server_default=sa.text("'draft'"), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name=op.f('ck_campaigns_channel')),
    sa.CheckConstraint("kind IN ('marketing', 'transactional')", name=op.f('ck_campaigns_kind')),
    sa.CheckConstraint("objective IN ('retention', 'win_back', 'cross_sell', 'reactivation')", name=op.f('ck_campaigns_objective')),
    sa.CheckConstraint("status IN ('draft', 'launched', 'cancelled')", name=op.f('ck_campaigns_status')),
    sa.CheckConstraint('attribution_days BETWEEN 1 AND 365', name=op.f('ck_campaigns_attribution_days')),
    sa.CheckConstraint('budget IS NULL OR budget >= 0', name=op.f('ck_campaigns_budget')),
    sa.CheckConstraint('control_share >= 0 AND control_share < 1', name=op.f('ck_campaigns_control_share')),
    sa.CheckConstraint('cost_per_contact >= 0', name=op.f('ck_campaigns_cost_per_contact')),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_campaigns_segment_id_segments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_index(op.f('ix_campaigns_segment_id'), 'campaigns', ['segment_id'], unique=False)
    op.create_table('campaign_conversions',
    sa.Column('campaign_id', sa.UUID(), nullable=False),
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('grp', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('ordered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attributed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("grp IN ('treatment', 'control', 'global_control')", name=op.f('ck_campaign_conversions_grp')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_conversions_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'order_id', name=op.f('pk_campaign_conversions'))
    )
    op.create_table('campaign_members',
    sa.Column('campaign_id', sa.UUID(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('grp', sa.String(length=16), nullable=False),
    sa.Column('stratum', sa.String(length=1), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("grp IN ('treatment', 'control', 'global_control')", name=op.f('ck_campaign_members_grp')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_members_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'customer_id', name=op.f('pk_campaign_members'))
    )
    op.create_index('ix_campaign_members_customer_id', 'campaign_members', ['customer_id'], unique=False)
    op.create_table('campaign_recipients',
    sa.Column('campaign_id', sa.UUID(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('provider_ref', sa.String(length=200), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name=op.f('ck_campaign_recipients_channel')),
    sa.CheckConstraint("status IN ('queued', 'sent', 'failed', 'suppressed')", name=op.f('ck_campaign_recipients_status')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_recipients_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'customer_id', name=op.f('pk_campaign_recipients'))
    )
    op.create_index('ix_campaign_recipients_customer_id', 'campaign_recipients', ['customer_id'], unique=False)
    op.create_index('ix_campaign_recipients_queued', 'campaign_recipients', ['not_before'], unique=False, postgresql_where=sa.text("status = 'queued'"))
    op.create_table('contact_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('campaign_id', sa.UUID(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name=op.f('ck_contact_log_channel')),
    sa.CheckConstraint("kind IN ('marketing', 'transactional')", name=op.f('ck_contact_log_kind')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_contact_log_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_log'))
    )
    op.create_index('ix_contact_log_customer_id_sent_at', 'contact_log', ['customer_id', 'sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contact_log_customer_id_sent_at', table_name='contact_log')
    op.drop_table('contact_log')
    op.drop_index('ix_campaign_recipients_queued', table_name='campaign_recipients', postgresql_where=sa.text("status = 'queued'"))
    op.drop_index('ix_campaign_recipients_customer_id', table_name='campaign_recipients')
    op.drop_table('campaign_recipients')
    op.drop_index('ix_campaign_members_customer_id', table_name='campaign_members')
    op.drop_table('campaign_members')
    op.drop_table('campaign_conversions')
    op.drop_index(op.f('ix_campaigns_segment_id'), table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_table('segments')
    op.drop_table('global_holdouts')
    op.drop_index('ix_audience_customers_tags', table_name='audience_customers', postgresql_using='gin')
    op.drop_table('audience_customers')
