-- Paid plans (Stripe).
CREATE TABLE public.subscriptions (
    id                     BIGSERIAL PRIMARY KEY,
    user_id                BIGINT NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    plan                   TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    stripe_subscription_id TEXT UNIQUE,
    status                 TEXT NOT NULL DEFAULT 'active',
    current_period_end     TIMESTAMPTZ,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
