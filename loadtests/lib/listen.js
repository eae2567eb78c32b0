// A laravel-echo-like listener: a Pusher socket on a tenant's private channel (signed by
// POST /broadcasting/auth with Kong's headers), counting the broadcasts the journeys cause.
import http from 'k6/http';
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { BASE_URLS, TENANTS } from './config.js';
import { kongHeaders } from './kong.js';

export const broadcastsReceived = new Counter('broadcasts_received');

/** Listens for `seconds` on the channel of the VU's tenant (VUs take the tenants in turn). */
export function listen(seconds) {
  const tenant = TENANTS[(__VU - 1) % TENANTS.length];
  const channel = `private-tenant.${tenant}`;
  const key = __ENV.BROADCAST_APP_KEY || 'policy-service';
  // With several replicas, the listeners spread over them: a broadcast crosses the backplane.
  const base = BASE_URLS[(__VU - 1) % BASE_URLS.length];
  const url = `${base.replace(/^http/, 'ws')}/app/${key}?protocol=7&client=k6&version=8.4.0`;
  const res = ws.connect(url, {}, (socket) => {
    socket.on('message', (text) => {
      const message = JSON.parse(text);
      if (message.event === 'pusher:connection_established') {
        const socketId = JSON.parse(message.data).socket_id;
        const auth = http.post(
          `${base}/broadcasting/auth`,
          { socket_id: socketId, channel_name: channel },
          { headers: kongHeaders(tenant), tags: { name: 'POST /broadcasting/auth' } },
        );
        check(auth, { 'broadcast auth 200': (r) => r.status === 200 });
        socket.send(JSON.stringify({
          event: 'pusher:subscribe',
          data: { channel, auth: auth.json('auth') },
        }));
      } else if (message.event === 'pusher:error') {
        check(message, { 'no pusher:error': () => false });
      } else if (message.channel === channel && message.event === 'PolicyBound') {
        broadcastsReceived.add(1);
      }
    });
    socket.setTimeout(() => socket.close(), seconds * 1000);
  });
  check(res, { 'socket upgraded': (r) => r && r.status === 101 });
}
