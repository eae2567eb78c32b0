//! `POST /broadcasting/auth` (Laravel's path, what laravel-echo and pusher-js call): signs a
//! socket's subscription to a private channel, for a consumer of the channel's tenant only.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    errors::{FORM, Problems},
    form::FormBody,
};
use crate::{
    broadcast::channels::{self, Channel},
    error::{Error, Result},
    gateway::TenantCtx,
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
    /// `private-tenant.{tenant slug}` or `private-policy.{policy id}`.
    #[oai(validator(
        max_length = 164,
        pattern = r"^private-(tenant|policy)\.[A-Za-z0-9_-]+$"
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
                    channels::MAX_NAME
                ),
            )
            .into());
        };
        let allowed = match &channel {
            Channel::Tenant(slug) => *slug == ctx.tenant.slug,
            Channel::Policy(id) => services::policies::exists(&ctx.db, id).await?,
        };
        if !allowed {
            metrics::counter!("broadcast_auth_refusals_total", "reason" => "forbidden")
                .increment(1);
            return Err(Error::Forbidden(format!(
                "{channel_name} is not a channel of tenant {}",
                ctx.tenant.slug
            ))
            .into());
        }
        Ok(Json(ChannelAuth {
            auth: state.signer.sign(&socket_id, &channel_name),
        }))
    }
}
