package pgsvc.pooler;

import java.io.IOException;
import java.util.Map;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandler;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.unix.Socket;

/**
 * Sends a write that is alone between two flushes with one {@code send()} of its bytes, past Netty's outbound
 * buffer. That is the pooler's usual case: a client's request, then the server's answer, each one batch of whole
 * frames written and flushed at the end of the read that brought it. Netty would queue the buffer as an entry, mark
 * it flushed, walk the queue to write it and take the entry out again: a tenth of the pooler's own CPU time per
 * transaction (perf/RESULTS.md), for a queue that only ever holds one buffer.
 *
 * <p>First in the pipeline, next to the socket, so every write passes here in order. A void-promise write of a
 * buffer with a native address, while nothing is queued in Netty, is held back; the flush sends it, and whatever
 * the socket does not take (a full send buffer, an error) goes to Netty, which then carries on as it would have:
 * it waits for the socket to drain, or reports the error and closes. Any other write first hands the held one to
 * Netty, so the order on the wire is the order of the writes. Writability is Netty's as before: the held buffer is
 * one read's worth at most and leaves at the next flush.
 *
 * <p>The connections' own handlers also call it directly ({@link #direct}): Netty's walk from the tail of the
 * pipeline to this handler touches every handler's context on the way, and with many connections each of those is a
 * cache miss.
 *
 * <p>Epoll stream channels only; elsewhere {@link #addTo} adds nothing.
 */
final class WriteThrough extends ChannelOutboundHandlerAdapter {
    static final String NAME = "writeThrough";

    private final Socket socket;
    private ChannelHandlerContext ctx;
    private ByteBuf held;

    private WriteThrough(Socket socket) {
        this.socket = socket;
    }

    /** Puts one first in the pipeline of an epoll stream channel. */
    static void addTo(Channel ch) {
        if (ch instanceof AbstractEpollStreamChannel epoll && epoll.fd() instanceof Socket socket) {
            ch.pipeline().addFirst(NAME, new WriteThrough(socket));
        }
    }

    /**
     * The channel's WriteThrough when no other handler in its pipeline handles writes (no TLS), so that writing to it
     * directly is what a write to the channel would do; else null. Ask once the pipeline is settled, after login.
     */
    static WriteThrough direct(Channel ch) {
        WriteThrough found = null;
        for (Map.Entry<String, ChannelHandler> e : ch.pipeline()) {
            if (e.getValue() instanceof WriteThrough w) {
                found = w;
            } else if (e.getValue() instanceof ChannelOutboundHandler) {
                return null;
            }
        }
        return found;
    }

    /** {@code channel.write(buf, channel.voidPromise())}, from the channel's own event loop only. */
    void write(ByteBuf buf) {
        write(ctx, buf, ctx.voidPromise());
    }

    /** {@code channel.flush()}, from the channel's own event loop only. */
    void flush() {
        flush(ctx);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (held == null && promise.isVoid() && msg instanceof ByteBuf buf && buf.hasMemoryAddress()
                && nothingQueued(ctx)) {
            held = buf;
            return;
        }
        handOver(ctx);
        ctx.write(msg, promise);
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        ByteBuf buf = held;
        if (buf != null) {
            held = null;
            // Still nothing queued: any other write would have handed the held one over first. A closed socket's
            // number may already belong to another connection: only Netty writes once it is not active.
            int readable = buf.readableBytes();
            int sent = 0;
            if (ctx.channel().isActive() && !socket.isOutputShutdown()) {
                try {
                    sent = socket.sendAddress(buf.memoryAddress(), buf.readerIndex(), buf.writerIndex());
                } catch (IOException e) {
                    // Netty's own write meets the same error and deals with it as it always does.
                }
            }
            if (sent == readable) {
                buf.release();
                return;
            }
            buf.skipBytes(sent);
            ctx.write(buf, ctx.voidPromise());
        }
        ctx.flush();
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        // Netty drops what was written and not flushed when it closes; so does this.
        release();
        ctx.close(promise);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        // The pipeline is taken down after the channel has closed.
        release();
    }

    private void handOver(ChannelHandlerContext ctx) {
        ByteBuf buf = held;
        if (buf != null) {
            held = null;
            ctx.write(buf, ctx.voidPromise());
        }
    }

    private void release() {
        ByteBuf buf = held;
        if (buf != null) {
            held = null;
            buf.release();
        }
    }

    private static boolean nothingQueued(ChannelHandlerContext ctx) {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        return out != null && out.totalPendingWriteBytes() == 0 && out.isEmpty();
    }
}
