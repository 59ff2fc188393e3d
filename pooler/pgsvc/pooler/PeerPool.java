package pgsvc.pooler;

import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.PeerEntry;
import pgsvc.protocol.Messages;

/**
 * The cancel requests forwarded to one peer: PgBouncer's peer pool. Each forward opens a connection to the peer,
 * sends the CancelRequest and waits for the peer to close it; at most the peer's {@code pool_size} forwards are
 * under way at once and the rest wait their turn, each for at most cancel_wait_timeout. All state lives on one
 * event loop; SHOW PEER_POOLS reads the counts, which only that loop writes.
 */
final class PeerPool {
    private static final Logger log = LoggerFactory.getLogger(PeerPool.class);

    /** A request not yet sent: its key (TTL already lowered) and when it stops being worth sending. */
    private record Pending(long key, long deadlineNanos) {
    }

    private final Pooler pooler;
    private final int peerId;
    private final EventLoop loop;
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    /** Requests queued, not yet given a connection. */
    private volatile int queued;
    /** Connections being opened, each for a request (sv_login; their requests count as waiting too). */
    private volatile int login;
    /** Requests sent, the connection open until the peer closes it (cl_active_cancel_req, sv_active_cancel). */
    private volatile int active;

    PeerPool(Pooler pooler, int peerId, EventLoop loop) {
        this.pooler = pooler;
        this.peerId = peerId;
        this.loop = loop;
    }

    int peerId() {
        return peerId;
    }

    int waiting() {
        return queued + login;
    }

    int login() {
        return login;
    }

    int active() {
        return active;
    }

    /** Queues a CancelRequest for the peer; it goes out as soon as the pool has room. */
    void forward(long key) {
        long wait = TimeUnit.MICROSECONDS.toNanos(pooler.config().getMicros("cancel_wait_timeout"));
        long deadline = System.nanoTime() + (wait > 0 ? wait : TimeUnit.DAYS.toNanos(1));
        loop.execute(() -> {
            queue.add(new Pending(key, deadline));
            queued = queue.size();
            launch();
            if (!queue.isEmpty() && wait > 0) {
                loop.schedule(this::dropExpired, wait, TimeUnit.NANOSECONDS);
            }
        });
    }

    private void dropExpired() {
        long now = System.nanoTime();
        if (queue.removeIf(p -> now - p.deadlineNanos() >= 0)) {
            log.debug("cancel request for peer {} dropped: not forwarded within cancel_wait_timeout", peerId);
        }
        queued = queue.size();
    }

    /** Gives queued requests connections while the pool has room. */
    private void launch() {
        Config config = pooler.config();
        PeerEntry peer = config.peers().get(peerId);
        if (peer == null) {
            // RELOAD removed the peer: nothing queued for it can be delivered.
            queue.clear();
            queued = 0;
            return;
        }
        int size = peer.poolSize() != null ? peer.poolSize() : config.defaultPoolSize();
        int max = size > 0 ? size : Integer.MAX_VALUE;
        long now = System.nanoTime();
        while (!queue.isEmpty() && login + active < max) {
            Pending p = queue.poll();
            long left = p.deadlineNanos() - now;
            if (left <= 0) {
                log.debug("cancel request for peer {} dropped: not forwarded within cancel_wait_timeout", peerId);
                continue;
            }
            login++;
            connect(peer, p, (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(left))));
        }
        queued = queue.size();
    }

    private void connect(PeerEntry peer, Pending p, int timeoutMillis) {
        ChannelInboundHandlerAdapter handler = new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                login--;
                active++;
                ctx.writeAndFlush(Messages.cancelRequest(ctx.alloc(), (int) (p.key() >>> 32), (int) p.key()));
                // The peer closes the connection once its own cancel is done; it gets until the deadline.
                long left = p.deadlineNanos() - System.nanoTime();
                ctx.executor().schedule(() -> ctx.close(), Math.max(1, left), TimeUnit.NANOSECONDS);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                // A peer sends nothing on a cancel connection; whatever comes is discarded.
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                active--;
                launch();
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        };
        ChannelFuture f;
        try {
            f = peer.host().startsWith("@") ? abstractSocket(peer, timeoutMillis, handler)
                    : pooler.connect(loop, peer.host(), peer.port(), timeoutMillis, handler);
        } catch (RuntimeException e) {
            // A Unix-socket peer without the epoll transport: nothing can reach it.
            login--;
            log.warn("could not forward a cancel request to peer {} ({}): {}", peerId, peer.host(), e.getMessage());
            return;
        }
        f.addListener((ChannelFutureListener) done -> {
            if (!done.isSuccess()) {
                login--;
                log.warn("could not forward a cancel request to peer {} ({}:{}): {}", peerId, peer.host(),
                        peer.port(), done.cause().getMessage());
                launch();
            }
        });
    }

    /** A peer in Linux's abstract socket namespace ({@code host=@name}), as PgBouncer spells it. */
    private ChannelFuture abstractSocket(PeerEntry peer, int timeoutMillis, ChannelInboundHandlerAdapter handler) {
        SocketAddress address = new DomainSocketAddress("\0" + peer.host().substring(1) + "/.s.PGSQL." + peer.port());
        return new Bootstrap().group(loop)
                .channel(pooler.transport().domainSocketChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                .handler(handler)
                .connect(address);
    }
}
