//! `POST /broadcasting/auth` (Laravel's path, what laravel-echo and pusher-js call): signs a
//! socket's subscription to a private channel, for a consumer of the channel's tenant only.
//! `GET /v1/events/stream`: the same channels as server-sent events, resumable
//! (`broadcast::sse`).

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use poem::web::{Data, sse::Event};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Query},
    payload::{EventStream, Json},
};
use serde::Deserialize;

use super::{
    ApiTags,
    errors::{FORM, LIMITED, Problems},
    form::FormBody,
    headers,
};
use crate::{
    api::ctx::TenantCtx,
    channels::Channel,
    platform::broadcast::{channels::MAX_NAME, sse},
    platform::error::{Error, Result},
    services,
    state::AppState,
};

/// What pusher-js posts: the socket and the channel it wants to join.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ChannelAuthRequest {
    /// The socket's id, from its `pusher:connection_established` (two numbers joined by a dot).
    #[oai(validator(pattern = r"^[0-9]{1,20}\.[0-9]{1,20}$"))]
    pub socket_id: String,
    /// `private-tenant.{tenant slug}` or `private-policy.{policy id}` (a UUID, in either case).
    #[oai(validator(
        max_length = 164,
        pattern = r"^private-(tenant\.[A-Za-z0-9_-]+|policy\.[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"
    ))]
    pub channel_name: String,
}

/// The signature the socket's `pusher:subscribe` carries as `auth`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChannelAuth {
    /// `{app key}:{hex HMAC-SHA256 of "socket_id:channel_name"}`.
    pub auth: String,
}

/// One broadcast on the stream. Its SSE `event` is the event's name, its `id` the cursor to
/// resume after it (send it back as `Last-Event-ID`).
#[derive(Debug, Object)]
pub struct ChannelEvent {
    /// The channel it came on, e.g. `private-tenant.acme`.
    pub channel: String,
    /// `PolicyBound`, `PolicyActivated`, `PolicyCancelled`, `PaymentReceived` or
    /// `ClaimStatusChanged`.
    pub event: String,
    /// The payload, as on the Pusher socket.
    pub data: serde_json::Value,
    #[oai(skip)]
    pub cursor: String,
}

/// Whether the consumer's tenant may follow `channel`.
async fn allowed(ctx: &TenantCtx, channel: &Channel) -> Result<bool> {
    Ok(match channel {
        Channel::Tenant(slug) => *slug == ctx.tenant.slug,
        Channel::Policy(id) => services::policies::exists(&ctx.db, id).await?,
    })
}

fn refused(ctx: &TenantCtx, channel: &str) -> Error {
    metrics::counter!("broadcast_auth_refusals_total", "reason" => "forbidden").increment(1);
    Error::Forbidden(format!(
        "{channel} is not a channel of tenant {}",
        ctx.tenant.slug
    ))
}

pub struct BroadcastingApi;

#[OpenApi(tag = "ApiTags::Broadcasting")]
impl BroadcastingApi {
    /// Sign a subscription to a private channel
    ///
    /// 403 when the channel is another tenant's, or a policy the caller's tenant does not have.
    #[oai(
        path = "/broadcasting/auth",
        method = "post",
        operation_id = "authorizeChannel"
    )]
    async fn auth(
        &self,
        ctx: TenantCtx,
        state: Data<&Arc<AppState>>,
        body: FormBody<ChannelAuthRequest>,
    ) -> Result<Json<ChannelAuth>, Problems<{ FORM }>> {
        let ChannelAuthRequest {
            socket_id,
            channel_name,
        } = body.0;
        if !socket_id.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|n| (1..=20).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()))
        }) {
            return Err(Error::validation(
                "socket_id",
                "must be two numbers joined by a dot, such as 1234.5678",
            )
            .into());
        }
        let Some(channel) = Channel::parse(&channel_name) else {
            return Err(Error::validation(
                "channel_name",
                format!(
                    "must be private-tenant.{{slug}} or private-policy.{{id}}, at most {} characters",
                    MAX_NAME
                ),
            )
            .into());
        };
        if !allowed(&ctx, &channel).await? {
            return Err(refused(&ctx, &channel_name).into());
        }
        Ok(Json(ChannelAuth {
            auth: state.signer.sign(&socket_id, &channel_name),
        }))
    }

    /// Follow channels as server-sent events
    ///
    /// The broadcasts of the Pusher socket, for clients that are not Pusher clients. Each event's
    /// `id` is a cursor: reconnect with it as `Last-Event-ID` and the events missed meanwhile come
    /// first (from the last `BROADCAST_HISTORY` of each channel), none twice. The stream stays
    /// open; a comment every 15 s keeps it alive. 403 when a channel is another tenant's. A
    /// tenant holds at most BROADCAST_MAX_TENANT_STREAMS streams on one instance (then 429),
    /// an instance BROADCAST_MAX_STREAMS (then 503). Channel names come back canonical (policy
    /// ids lower-case). When the instance shuts down the stream ends: reconnect with
    /// `Last-Event-ID`.
    #[oai(
        path = "/v1/events/stream",
        method = "get",
        operation_id = "streamEvents"
    )]
    async fn stream(
        &self,
        ctx: TenantCtx,
        state: Data<&Arc<AppState>>,
        /// Comma-separated channels: `tenant.{slug}`, `policy.{id}` (with or without
        /// `private-`; the id a UUID), at most 20.
        #[oai(validator(
            max_length = 2000,
            pattern = r"^(private-)?(tenant\.[A-Za-z0-9_-]+|policy\.[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(,(private-)?(tenant\.[A-Za-z0-9_-]+|policy\.[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}))*$"
        ))]
        channels: Query<String>,
        /// The `id` of the last event received, to resume after it.
        #[oai(name = "Last-Event-ID", validator(max_length = 4000))]
        last_event_id: Header<Option<String>>,
        req: &poem::Request,
    ) -> Result<EventStream<BoxStream<'static, ChannelEvent>>, Problems<{ LIMITED }>> {
        headers::readable(req, "Last-Event-ID")?;
        let mut wires = Vec::new();
        for name in channels.0.split(',') {
            let wire = if name.starts_with("private-") {
                name.to_owned()
            } else {
                format!("private-{name}")
            };
            // `channel.wire()` is the canonical name (a policy id lower-case).
            let channel = Channel::parse(&wire).ok_or_else(|| {
                Error::bad_request(
                    Some("channels"),
                    format!("{name}: not tenant.{{slug}} or policy.{{id}}"),
                )
            })?;
            if !allowed(&ctx, &channel).await? {
                return Err(refused(&ctx, name).into());
            }
            if !wires.contains(&channel.wire()) {
                wires.push(channel.wire());
            }
        }
        if wires.len() > sse::MAX_CHANNELS {
            return Err(Error::bad_request(
                Some("channels"),
                format!("at most {} channels", sse::MAX_CHANNELS),
            )
            .into());
        }
        let tenant = &ctx.tenant.slug;
        let last = last_event_id.0.as_deref();
        let items = sse::open(state.broadcasts.clone(), tenant, wires, last).await?;
        let events = items.map(|item| ChannelEvent {
            channel: item.message.channel.clone(),
            event: item.message.event.clone(),
            data: serde_json::from_str(&item.message.data).unwrap_or_default(),
            cursor: item.cursor,
        });
        Ok(EventStream::new(events.boxed())
            .keep_alive(Duration::from_secs(15))
            .to_event(|e| {
                let data =
                    serde_json::json!({ "channel": e.channel, "event": e.event, "data": e.data });
                Event::message(data.to_string())
                    .event_type(e.event)
                    .id(e.cursor)
            }))
    }
}
