package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.concurrent.FastThreadLocal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** One read buffer per event loop, reused while only the loop holds it, and given up to whoever keeps it. */
class ReadBuffersTest {
    /** Unpooled, so that a released buffer is not recycled into the next one and its refCnt() stays readable. */
    private final ByteBufAllocator alloc = UnpooledByteBufAllocator.DEFAULT;

    @AfterEach
    void dropSpare() {
        // This test thread's spare, as a loop's thread gives it back when it ends.
        FastThreadLocal.removeAll();
    }

    @Test
    void aReleasedReadIsReusedEmpty() {
        ByteBuf first = ReadBuffers.take(alloc, ReadBuffers.MIN);
        first.writeBytes("query".getBytes(StandardCharsets.US_ASCII));
        first.release();
        ByteBuf second = ReadBuffers.take(alloc, ReadBuffers.MIN);
        assertSame(first, second);
        assertEquals(0, second.readableBytes(), "cleared for the next read");
        assertEquals(2, second.refCnt(), "the reader's reference and the loop's");
        second.release();
    }

    @Test
    void aBufferSomeoneKeepsIsTheirsAndNotOverwritten() {
        ByteBuf kept = ReadBuffers.take(alloc, ReadBuffers.MIN);
        kept.writeBytes("partial frame".getBytes(StandardCharsets.US_ASCII));
        ByteBuf next = ReadBuffers.take(alloc, ReadBuffers.MIN);
        assertNotSame(kept, next);
        next.writeBytes("the next read".getBytes(StandardCharsets.US_ASCII));
        assertEquals("partial frame", kept.toString(StandardCharsets.US_ASCII));
        assertEquals(1, kept.refCnt(), "the loop gave up its reference");
        assertTrue(kept.release(), "its holder's release frees it");
        next.release();
    }

    @Test
    void aLargerReadTakesALargerBuffer() {
        ByteBuf small = ReadBuffers.take(alloc, ReadBuffers.MIN);
        small.release();
        ByteBuf large = ReadBuffers.take(alloc, 2 * ReadBuffers.MIN);
        assertNotSame(small, large);
        assertTrue(large.capacity() >= 2 * ReadBuffers.MIN);
        assertEquals(0, small.refCnt(), "the smaller spare went back to the allocator");
        large.release();
        ByteBuf again = ReadBuffers.take(alloc, ReadBuffers.MIN);
        assertSame(large, again, "a spare up to twice the size serves a smaller read");
        again.release();
    }

    @Test
    void aFarLargerSpareIsNotPinnedByAShortRead() {
        ByteBuf result = ReadBuffers.take(alloc, ReadBuffers.MAX);
        result.release();
        ByteBuf query = ReadBuffers.take(alloc, ReadBuffers.MIN);
        assertNotSame(result, query);
        assertTrue(query.capacity() < ReadBuffers.MAX, "a short read that waits for a server holds "
                + query.capacity() + " bytes");
        assertEquals(0, result.refCnt(), "the large spare went back to the allocator");
        query.release();
    }

    @Test
    void theThreadsEndGivesTheSpareBack() {
        ByteBuf read = ReadBuffers.take(alloc, ReadBuffers.MIN);
        read.release();
        FastThreadLocal.removeAll();
        assertEquals(0, read.refCnt());
    }

    /**
     * Reads on a real epoll connection: each one consumed and released before the next arrives lands in the same
     * buffer, and one the handler keeps stays as it was while later reads go elsewhere. Netty's channel also has
     * TCP_NODELAY on without pgsvc asking.
     */
    @Test
    void readsOnAnEpollChannelReuseTheLoopsBuffer() throws Exception {
        Epoll.ensureAvailability();
        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        LinkedBlockingQueue<Object> seen = new LinkedBlockingQueue<>();
        List<ByteBuf> keep = new ArrayList<>();
        try {
            Channel server = new ServerBootstrap().group(loop).channel(EpollServerSocketChannel.class)
                    .childOption(ChannelOption.RCVBUF_ALLOCATOR, Pooler.READ_SIZES)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            seen.add(((EpollSocketChannel) ch).config().isTcpNoDelay());
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    ByteBuf read = (ByteBuf) msg;
                                    String text = read.toString(StandardCharsets.US_ASCII);
                                    if (text.startsWith("keep")) {
                                        keep.add(read);
                                    } else {
                                        read.release();
                                    }
                                    seen.add(new Object[] {read, text});
                                }
                            });
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), port)) {
                assertEquals(Boolean.TRUE, seen.poll(30, TimeUnit.SECONDS), "TCP_NODELAY on the accepted socket");
                OutputStream out = client.getOutputStream();
                Object[] a = send(out, seen, "one");
                Object[] b = send(out, seen, "two");
                Object[] kept = send(out, seen, "keep this");
                Object[] c = send(out, seen, "three");
                assertSame(a[0], b[0], "a released read's buffer serves the next read");
                assertSame(a[0], kept[0]);
                assertNotSame(kept[0], c[0], "a kept read's buffer is not read into again");
                assertEquals("two", b[1]);
                assertEquals("keep this", ((ByteBuf) kept[0]).toString(StandardCharsets.US_ASCII));
            }
            server.close().sync();
        } finally {
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
            keep.forEach(ByteBuf::release);
        }
    }

    /** Sends one piece and waits until the channel has read it: {buffer, text}. */
    private static Object[] send(OutputStream out, LinkedBlockingQueue<Object> seen, String text) throws Exception {
        out.write(text.getBytes(StandardCharsets.US_ASCII));
        out.flush();
        Object read = seen.poll(30, TimeUnit.SECONDS);
        assertTrue(read instanceof Object[], "no read of \"" + text + "\"");
        return (Object[]) read;
    }
}
