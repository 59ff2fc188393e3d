package pgsvc.pooler;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import pgsvc.protocol.FrameDecoder;

/**
 * The prepared-statement rewrite of one pgbench -M prepared transaction once its statement is on the server: the
 * client's Bind/Execute/Sync goes out with the statement renamed, and the server's BindComplete, DataRow,
 * CommandComplete and ReadyForQuery come back through the tracker.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class StatementRewriteBench {
    private EmbeddedChannel client;
    private StatementTracker tracker;
    private ByteBuf parse;
    private ByteBuf bind;
    private ByteBuf parseReply;
    private ByteBuf reply;
    private final Splice toServer = new Splice(ByteBuf::release);
    private final Splice toClient = new Splice(ByteBuf::release);

    private static void frame(ByteBuf out, char type, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.ISO_8859_1);
        out.writeByte(type).writeInt(bytes.length + 4).writeBytes(bytes);
    }

    @Setup
    public void setUp() {
        pgsvc.protocol.QuietLogs.apply();
        client = new EmbeddedChannel();
        tracker = new StatementTracker(new PreparedStatements(), client);
        tracker.link(new ServerStatements(), 200);
        parse = PooledByteBufAllocator.DEFAULT.directBuffer(256);
        frame(parse, 'P', "P_1\u0000SELECT abalance FROM pgbench_accounts WHERE aid = $1\u0000\u0000\u0001\u0000\u0000"
                + "\u0000\u0017");
        frame(parse, 'B', "\u0000P_1\u0000\u0000\u0000\u0000\u0001\u0000\u0000\u0000\u000512345\u0000\u0000");
        frame(parse, 'E', "\u0000\u0000\u0000\u0000\u0000");
        frame(parse, 'S', "");
        bind = PooledByteBufAllocator.DEFAULT.directBuffer(128);
        frame(bind, 'B', "\u0000P_1\u0000\u0000\u0000\u0000\u0001\u0000\u0000\u0000\u000512345\u0000\u0000");
        frame(bind, 'E', "\u0000\u0000\u0000\u0000\u0000");
        frame(bind, 'S', "");
        parseReply = PooledByteBufAllocator.DEFAULT.directBuffer(128);
        frame(parseReply, '1', "");
        reply = PooledByteBufAllocator.DEFAULT.directBuffer(128);
        frame(reply, '2', "");
        frame(reply, 'D', "\u0000\u0001\u0000\u0000\u0000\u0004-123");
        frame(reply, 'C', "SELECT 1\u0000");
        frame(reply, 'Z', "I");
        // The first transaction prepares the statement on the server; the measured ones find it there.
        client(parse);
        ByteBuf first = PooledByteBufAllocator.DEFAULT.directBuffer(128);
        first.writeBytes(parseReply, 0, parseReply.readableBytes()).writeBytes(reply, 0, reply.readableBytes());
        server(first);
    }

    private void client(ByteBuf batch) {
        ByteBuf b = batch.retainedDuplicate();
        toServer.begin(b);
        for (int i = b.readerIndex(); i < b.writerIndex(); i += FrameDecoder.frameLength(b, i)) {
            tracker.clientMessage(b, i, FrameDecoder.frameLength(b, i), b.getByte(i), toServer);
        }
        toServer.finish(b.writerIndex());
    }

    private boolean server(ByteBuf b) {
        toClient.begin(b);
        boolean ok = true;
        for (int i = b.readerIndex(); i < b.writerIndex(); i += FrameDecoder.frameLength(b, i)) {
            ok &= tracker.serverMessage(b, i, FrameDecoder.frameLength(b, i), b.getByte(i), toClient);
        }
        toClient.finish(b.writerIndex());
        return ok;
    }

    @Benchmark
    public boolean boundStatement() {
        client(bind);
        return server(reply.retainedDuplicate());
    }

    @TearDown
    public void tearDown() {
        parse.release();
        bind.release();
        parseReply.release();
        reply.release();
        client.finishAndReleaseAll();
    }
}
