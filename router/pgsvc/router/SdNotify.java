package pgsvc.router;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.unix.DomainSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Transport;

/**
 * systemd's readiness protocol ({@code sd_notify(3)}) without libsystemd: each state change is one datagram of
 * {@code KEY=value} lines to the Unix socket named by {@code $NOTIFY_SOCKET}, sent with Netty's epoll datagram channel
 * on one of pgsvc's loops. With the unit's {@code Type=notify}, systemd starts dependent units once pgsvc says
 * {@code READY=1}, which it does when it listens. Without {@code NOTIFY_SOCKET} (not started by systemd) nothing
 * is sent.
 */
final class SdNotify {
    private static final Logger log = LoggerFactory.getLogger(SdNotify.class);

    private final EventLoopGroup group;
    private final DomainSocketAddress socket;

    private SdNotify(EventLoopGroup group, DomainSocketAddress socket) {
        this.group = group;
        this.socket = socket;
    }

    /**
     * The notifier for {@code $NOTIFY_SOCKET}, or one that sends nothing when it is unset or unusable. A name
     * starting with {@code @} is in Linux's abstract namespace, as systemd writes it.
     */
    static SdNotify fromEnvironment(Transport transport, EventLoopGroup group) {
        String path = System.getenv("NOTIFY_SOCKET");
        if (path == null || path.isEmpty()) {
            return new SdNotify(group, null);
        }
        if (!transport.isEpoll()) {
            log.warn("NOTIFY_SOCKET is set but the epoll transport is not available: systemd is not notified");
            return new SdNotify(group, null);
        }
        if (!path.startsWith("/") && !path.startsWith("@")) {
            log.warn("NOTIFY_SOCKET {} is neither a path nor an abstract socket: systemd is not notified", path);
            return new SdNotify(group, null);
        }
        return new SdNotify(group, new DomainSocketAddress(path.startsWith("@") ? "\0" + path.substring(1) : path));
    }

    /*
     * Each notification waits (a second at most) until its datagram is written, so that RELOADING=1 cannot overtake
     * the READY=1 that follows it, and STOPPING=1 is out before the process exits. They are called from main and
     * from the signal handlers' threads, never on an event loop.
     */

    /** READY=1, with this process as the main one (so -d's child or a wrapper need no NotifyAccess=all). */
    void ready() {
        sendAndWait("READY=1\nMAINPID=" + ProcessHandle.current().pid());
    }

    /** RELOADING=1 with the monotonic clock, as systemd 253+ wants it; READY=1 follows when the reload is done. */
    void reloading() {
        // HotSpot's nanoTime is CLOCK_MONOTONIC on Linux, the clock MONOTONIC_USEC is read against.
        sendAndWait("RELOADING=1\nMONOTONIC_USEC=" + System.nanoTime() / 1000);
    }

    void stopping() {
        sendAndWait("STOPPING=1");
    }

    private void sendAndWait(String state) {
        try {
            send(state).get(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn("systemd was not notified of {} within a second", state.lines().findFirst().orElse(state));
        }
    }

    /** Sends one datagram; the future completes when it is written or has failed (which is logged). */
    CompletableFuture<Void> send(String state) {
        if (socket == null) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> sent = new CompletableFuture<>();
        new Bootstrap().group(group)
                .channel(EpollDomainDatagramChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(socket)
                .addListener((ChannelFutureListener) connected -> {
                    if (!connected.isSuccess()) {
                        log.warn("cannot notify systemd at {}: {}", socket.path(), connected.cause().getMessage());
                        sent.complete(null);
                        return;
                    }
                    connected.channel().writeAndFlush(Unpooled.copiedBuffer(state, StandardCharsets.UTF_8))
                            .addListener((ChannelFutureListener) written -> {
                                if (!written.isSuccess()) {
                                    log.warn("cannot notify systemd: {}", written.cause().getMessage());
                                }
                                written.channel().close();
                                sent.complete(null);
                            });
                });
        return sent;
    }
}
