package pgsvc.router;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;

/**
 * A service's maxconn and wait queue, as HAProxy's: at most maxconn clients are served at once; at the limit the
 * listener stops accepting (so clients wait in the kernel's accept queue), and the few accepted meanwhile are
 * parked unread here and admitted in arrival order as served clients leave.
 */
@ChannelHandler.Sharable
final class ServiceLimit extends ChannelInboundHandlerAdapter {
    private static final AttributeKey<Boolean> ADMITTED = AttributeKey.valueOf("pgsvc.service.admitted");

    private final int maxconn;
    private final AtomicInteger admitted = new AtomicInteger();
    private final Queue<ChannelHandlerContext> waiting = new ConcurrentLinkedQueue<>();

    ServiceLimit(int maxconn) {
        this.maxconn = maxconn;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        if (tryTakeSlot()) {
            admit(ctx);
            return;
        }
        ctx.channel().config().setAutoRead(false);
        waiting.add(ctx);
        setAccepting(ctx.channel(), false);
        drain();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (Boolean.TRUE.equals(ctx.channel().attr(ADMITTED).get())) {
            admitted.decrementAndGet();
            drain();
            if (admitted.get() < maxconn) {
                setAccepting(ctx.channel(), true);
            }
        } else {
            waiting.remove(ctx);
        }
        ctx.fireChannelInactive();
    }

    private boolean tryTakeSlot() {
        while (true) {
            int n = admitted.get();
            if (n >= maxconn) {
                return false;
            }
            if (admitted.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** Admits parked clients while slots are free; each is admitted on its own loop. */
    private void drain() {
        while (!waiting.isEmpty() && tryTakeSlot()) {
            ChannelHandlerContext next = waiting.poll();
            if (next == null) {
                admitted.decrementAndGet();
                return;
            }
            next.executor().execute(() -> {
                if (!next.channel().isActive()) {
                    // It left while parked: its slot goes to the next one.
                    admitted.decrementAndGet();
                    drain();
                    return;
                }
                next.channel().config().setAutoRead(true);
                admit(next);
            });
        }
    }

    private static void admit(ChannelHandlerContext ctx) {
        ctx.channel().attr(ADMITTED).set(Boolean.TRUE);
        ctx.fireChannelActive();
    }

    private static void setAccepting(Channel child, boolean on) {
        Channel listener = child.parent();
        if (listener != null) {
            listener.config().setAutoRead(on);
        }
    }
}
