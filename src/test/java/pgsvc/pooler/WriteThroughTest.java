package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link WriteThrough} on a real epoll socket to a plain Java socket: what reaches the peer, in what order, and which
 * writes Netty's outbound buffer saw (a handler between it and the socket counts them).
 */
class WriteThroughTest {
    private static EpollEventLoopGroup loop;

    private ServerSocket listener;
    private Socket peer;
    private Channel channel;
    private final Counter counter = new Counter();

    @BeforeAll
    static void startLoop() {
        Epoll.ensureAvailability();
        loop = new EpollEventLoopGroup(1);
    }

    @AfterAll
    static void stopLoop() {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @BeforeEach
    void connect() throws Exception {
        listener = new ServerSocket();
        // Small and fixed (no autotuning), so that a few megabytes do not fit while the peer does not read.
        listener.setReceiveBufferSize(8192);
        listener.bind(new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 1);
        channel = new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                .option(ChannelOption.SO_SNDBUF, 8192)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter());
                        WriteThrough.addTo(ch);
                        // Between WriteThrough and the socket: sees only what went to Netty's outbound buffer.
                        ch.pipeline().addFirst(counter);
                    }
                })
                .connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort())).sync().channel();
        peer = listener.accept();
        peer.setSoTimeout(10_000);
        assertTrue(channel.pipeline().get(WriteThrough.class) != null);
    }

    @AfterEach
    void close() throws Exception {
        channel.close().sync();
        peer.close();
        listener.close();
    }

    @Test
    void aLoneFlushedWriteBypassesNettysQueue() throws Exception {
        ByteBuf buf = direct("Z\0\0\0\5I");

        onLoop(() -> {
            channel.write(buf, channel.voidPromise());
            channel.flush();
            return null;
        });

        assertArrayEquals(bytes("Z\0\0\0\5I"), read(6));
        assertEquals(0, counter.writes, "Netty queued nothing");
        assertEquals(0, buf.refCnt());
    }

    @Test
    void aWriteWithAPromiseGoesAfterTheHeldOne() throws Exception {
        ByteBuf first = direct("first ");
        ByteBuf second = direct("second");

        boolean[] done = new boolean[1];
        onLoop(() -> {
            channel.write(first, channel.voidPromise());
            channel.write(second).addListener(f -> done[0] = f.isSuccess());
            channel.flush();
            return null;
        });

        assertArrayEquals(bytes("first second"), read(12));
        assertEquals(2, counter.writes);
        assertTrue(onLoop(() -> done[0]));
        assertEquals(0, first.refCnt());
        assertEquals(0, second.refCnt());
    }

    @Test
    void twoWritesBeforeAFlushGoOutInOrderThroughNetty() throws Exception {
        onLoop(() -> {
            channel.write(direct("one "), channel.voidPromise());
            channel.write(direct("two "), channel.voidPromise());
            channel.write(Unpooled.copiedBuffer("three", StandardCharsets.US_ASCII), channel.voidPromise());
            channel.flush();
            return null;
        });

        assertArrayEquals(bytes("one two three"), read(13));
        assertEquals(3, counter.writes);
    }

    @Test
    void whatTheSocketDoesNotTakeIsLeftToNetty() throws Exception {
        // Far more than the send buffers hold while the peer is not reading.
        byte[] big = new byte[4 << 20];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31 + (i >>> 12));
        }
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(big.length).writeBytes(big);
        ByteBuf after = direct("after");

        boolean writable = onLoop(() -> {
            channel.write(buf, channel.voidPromise());
            channel.flush();
            boolean w = channel.isWritable();
            channel.write(after, channel.voidPromise());
            channel.flush();
            return w;
        });

        assertFalse(writable, "the rest waits in Netty's buffer, which counts it");
        byte[] got = read(big.length + 5);
        assertArrayEquals(big, Arrays.copyOf(got, big.length));
        assertArrayEquals(bytes("after"), Arrays.copyOfRange(got, big.length, got.length));
        assertEquals(2, counter.writes, "the rest of the big one, and the one after it as the queue was not empty");
        assertEquals(0, buf.refCnt());
    }

    @Test
    void aHeldWriteIsDroppedAndFreedWhenTheChannelCloses() throws Exception {
        ByteBuf buf = direct("never sent");

        onLoop(() -> {
            channel.write(buf, channel.voidPromise());
            channel.close();
            channel.flush();
            return null;
        });

        assertEquals(-1, peer.getInputStream().read());
        assertEquals(0, buf.refCnt());
        assertEquals(0, counter.writes);
    }

    @Test
    void directUseOnlyWhereNoOtherHandlerTakesWrites() throws Exception {
        assertNull(WriteThrough.direct(channel), "the counter handles writes, as TLS would");
        channel.pipeline().remove(counter);
        WriteThrough w = WriteThrough.direct(channel);
        assertNotNull(w);

        ByteBuf first = direct("held, ");
        onLoop(() -> {
            w.write(first);
            // A write through the pipeline meanwhile goes after the one held.
            channel.write(direct("then the pipeline's, "));
            w.write(direct("then direct again"));
            w.flush();
            return null;
        });

        assertArrayEquals(bytes("held, then the pipeline's, then direct again"), read(44));
        assertEquals(0, first.refCnt());
    }

    private static ByteBuf direct(String s) {
        byte[] b = bytes(s);
        return PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private byte[] read(int n) throws Exception {
        InputStream in = peer.getInputStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] chunk = new byte[65536];
        while (out.size() < n) {
            int r = in.read(chunk, 0, Math.min(chunk.length, n - out.size()));
            if (r < 0) {
                break;
            }
            out.write(chunk, 0, r);
        }
        return out.toByteArray();
    }

    private <T> T onLoop(Callable<T> task) throws Exception {
        return channel.eventLoop().submit(task).get(10, TimeUnit.SECONDS);
    }

    @io.netty.channel.ChannelHandler.Sharable
    private static final class Counter extends ChannelOutboundHandlerAdapter {
        volatile int writes;

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            writes++;
            ctx.write(msg, promise);
        }
    }
}
