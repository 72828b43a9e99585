using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Akka.Event;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Microsoft.Win32.SafeHandles;
using Xunit;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// What the gateway does with spool files the receiving Exim (4.96, real) wrote and something then broke, or that Exim
/// is still working on, and how it finishes a claim or a delete a crash cut in two. Each message is queued before the
/// gateway starts, so the gateway finds the damage as it would after a crash or an operator's mistake.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed partial class EximBadInputSpecs : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Sender = "alice@example.org";
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    private static string Message(int seq) => $"From: Alice <{Sender}>\nTo: bob@example.net\nSubject: message {seq}\nX-Seq: {seq}\n\nHello number {seq}.\n";

    private static async Task<string> QueueAsync(EximInstance exim, int seq) => await exim.SendAsync(Sender, ["bob@example.net"], Message(seq));

    private static async Task AwaitDelivered(EximInstance exim, HostedGateway gateway, params int[] seqs)
    {
        var sink = new CompleteSinkFiles(exim);
        await Eventually.Holds(() => sink.Count() >= seqs.Length && EximInstance.SpoolFiles(exim.DeliveringInput).Count == 0, Patience,
            () => $"{seqs.Length} message(s) delivered ({exim.SinkFiles().Count} so far; {gateway.Counters}); gateway log:\n{gateway.Log.All()}\nexim:\n{exim.DeliveringLog()}");
        Assert.Equal(seqs.Order(), exim.SinkFiles().Select(SinkFile.Read).Select(d => SeqHeader.Of(d.Message)).Order());
    }

    [Fact]
    public async Task Should_leave_an_H_file_without_its_D_file_where_it_is_with_one_log_line_and_go_on()
    {
        await using var exim = await EximInstance.StartAsync();
        var broken = await QueueAsync(exim, 0);
        File.Delete(Path.Combine(exim.ReceivingInput, $"{broken}-D"));
        await QueueAsync(exim, 1);
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        await using var gateway = await HostedGateway.StartAsync(settings);

        await AwaitDelivered(exim, gateway, 1);
        // Counted, then logged: wait for the line, not only the count.
        await Eventually.Holds(() => gateway.Counters.Refused >= 1 && gateway.Log.Lines(LogLevel.WarningLevel).Any(line => line.Contains(broken, StringComparison.Ordinal)), Patience,
            () => $"the broken message to be refused and logged ({gateway.Counters})");
        Assert.True(File.Exists(Path.Combine(exim.ReceivingInput, $"{broken}-H")));
        var warning = Assert.Single(gateway.Log.Lines(LogLevel.WarningLevel), line => line.Contains(broken, StringComparison.Ordinal));
        Assert.Contains($"{broken}-D is missing", warning, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
    }

    [Fact]
    public async Task Should_move_a_truncated_H_file_aside_with_its_D_file_and_deliver_nothing_of_it()
    {
        await using var exim = await EximInstance.StartAsync();
        var broken = await QueueAsync(exim, 0);
        var header = Path.Combine(exim.ReceivingInput, $"{broken}-H");
        var content = File.ReadAllBytes(header);
        File.WriteAllBytes(header, content[..(content.Length - 5)]); // cut inside its last header line
        await QueueAsync(exim, 1);
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        await using var gateway = await HostedGateway.StartAsync(settings);

        await AwaitDelivered(exim, gateway, 1);
        // Moved aside, then logged: wait for the line too.
        await Eventually.Holds(() => Directory.GetFiles(settings.Queue.Bad).Length == 2 && gateway.Log.Lines(LogLevel.WarningLevel).Any(line => line.Contains(broken, StringComparison.Ordinal)), Patience,
            () => $"the broken pair in {settings.Queue.Bad}, logged ({gateway.Counters})");
        Assert.Equal([$"{broken}-D", $"{broken}-H"], Directory.GetFiles(settings.Queue.Bad).Select(path => Path.GetFileName(path)[..(broken.Length + 2)]).Order());
        Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Single(gateway.Log.Lines(LogLevel.WarningLevel), line => line.Contains(broken, StringComparison.Ordinal) && line.Contains("malformed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_leave_a_message_alone_while_exim_holds_its_lock_on_the_D_file()
    {
        await using var exim = await EximInstance.StartAsync();
        var locked = await QueueAsync(exim, 0);
        var data = Path.Combine(exim.ReceivingInput, $"{locked}-D");
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        HostedGateway gateway;
        using (var eximLock = EximStyleLock.Take(data))
        {
            gateway = await HostedGateway.StartAsync(settings);
            // Tried at least twice (the watcher lists the queue every second) and left alone each time.
            await Eventually.Holds(() => gateway.Counters.Absorbed >= 2, Patience, () => $"the locked message to be tried ({gateway.Counters})");
            Assert.Empty(exim.SinkFiles());
            Assert.True(File.Exists(data));
            Assert.True(File.Exists(Path.Combine(exim.ReceivingInput, $"{locked}-H")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        }
        await using (gateway)
        {
            await AwaitDelivered(exim, gateway, 0);
            Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
        }
    }

    [Fact]
    public async Task Should_finish_a_claim_that_a_crash_cut_between_moving_the_H_file_and_the_D_file()
    {
        await using var exim = await EximInstance.StartAsync();
        var id = await QueueAsync(exim, 0);
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        var header = Path.Combine(exim.ReceivingInput, $"{id}-H");
        var identity = NativeFile.TryGetIdentity(header) ?? throw new InvalidOperationException("no -H");
        Assert.Equal(RenameOutcome.Renamed, NativeFile.TryRenameNoReplace(header, Path.Combine(settings.Queue.Work, WorkArea.EntryName(identity, $"{id}-H"))));

        await using var gateway = await HostedGateway.StartAsync(settings);

        await AwaitDelivered(exim, gateway, 0);
        await Eventually.Holds(() => !Directory.EnumerateFileSystemEntries(settings.Queue.Work).Any(), Patience, () => "the work area to empty");
        Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
    }

    [Fact]
    public async Task Should_remove_a_D_file_that_a_crash_left_in_the_work_area_after_its_H_file_was_deleted()
    {
        await using var exim = await EximInstance.StartAsync();
        await QueueAsync(exim, 0);
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        var orphan = Path.Combine(settings.Queue.Work, WorkArea.CompanionEntryName(new FileIdentity(1, 2, 3), "1xZLdR-0003jd-0a-D"));
        File.WriteAllText(orphan, "1xZLdR-0003jd-0a-D\nbody of a message delivered before the crash\n");

        await using var gateway = await HostedGateway.StartAsync(settings);

        await AwaitDelivered(exim, gateway, 0);
        Assert.False(File.Exists(orphan));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
    }

    /// <summary>
    /// A write lock on a -D file's first line, where Exim takes its fcntl lock while it works on the message. Exim's
    /// is a classic (per-process) lock; this one is an open-file-description lock, which conflicts with the gateway's
    /// the same way, but which the gateway, living in this same process, cannot drop by closing its own handle of the
    /// file (closing any handle drops a process's classic locks).
    /// </summary>
    private sealed partial class EximStyleLock : IDisposable
    {
        private const int FOfdSetLk = 37, FWrLck = 1;
        private readonly SafeFileHandle _handle;

        private EximStyleLock(SafeFileHandle handle) => _handle = handle;

        [StructLayout(LayoutKind.Sequential)]
        private struct Flock
        {
            public short Type;
            public short Whence;
            public long Start;
            public long Length;
            public int Pid;
        }

        [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static partial int Fcntl(SafeFileHandle fd, int command, ref Flock flock);

        public static EximStyleLock Take(string path)
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            var flock = new Flock { Type = FWrLck, Start = 0, Length = Path.GetFileName(path).Length + 1 };
            if (Fcntl(handle, FOfdSetLk, ref flock) != 0) throw new IOException($"fcntl F_OFD_SETLK on {path}: errno {Marshal.GetLastPInvokeError()}");
            return new EximStyleLock(handle);
        }

        public void Dispose() => _handle.Dispose();
    }
}
