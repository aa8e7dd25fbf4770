namespace LayerStats.Fixtures;

/// <summary>The images of the bundled sample set (sample-data/README.md describes them).</summary>
public sealed record SampleSet(
    BuiltImage Base,
    BuiltImage BaseZstd,
    BuiltImage Web,
    BuiltImage Worker10,
    BuiltImage Worker11,
    BuiltIndex Tool,
    BuiltImage Hello)
{
    public const string LegacyTar = "base-web.docker-legacy.tar";
    public const string Docker25Tar = "worker.docker25.tar";
    public const string OciLayoutDir = "oci-layout";
    public const string OciArchiveTar = "tool-web.oci-archive.tar";
    public const string GzippedLegacyTar = "hello.docker-legacy.tar.gz";

    public BuiltImage ToolAmd64 => Tool.Platforms[0];
    public BuiltImage ToolArm64 => Tool.Platforms[1];
}

/// <summary>Builds and writes the sample set, deterministically.</summary>
public static class Samples
{
    private const int Exec = LayerBuilder.DefaultExecMode;

    public static readonly string GplText = "GNU GENERAL PUBLIC LICENSE (sample text)\n\n" + Content.Text("license/GPL-2", 160, 12);
    public static readonly string MitText = "Permission is hereby granted, free of charge (sample text)\n\n" + Content.Text("license/MIT", 30, 12);

    public static SampleSet Build()
    {
        // ---- base:1.0 — a small Alpine-like root filesystem in three layers ----
        var rootfs = new LayerBuilder(implicitParents: true)
            .Symlink("bin", "usr/bin").Symlink("lib", "usr/lib").Symlink("sbin", "usr/sbin")
            .Dir("dev").Dir("proc").Dir("root", 448).Dir("tmp", 1023).Dir("home").Dir("var/cache/apk").Dir("etc/ssl/certs")
            .File("etc/os-release", "NAME=\"Demo Linux\"\nID=demo\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Demo Linux v3.19\"\n")
            .File("etc/hostname", "localhost\n")
            .File("etc/hosts", "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost\n")
            .File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
            .File("etc/group", "root:x:0:root\nnobody:x:65534:\n")
            .File("etc/shells", "/bin/sh\n/bin/ash\n")
            .File("etc/profile", "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\numask 022\n")
            .File("etc/motd", "Welcome to Demo Linux!\n" + Content.Text("motd", 6))
            .File("usr/bin/busybox", Content.Binary("base/busybox", 196_608), Exec)
            .Hardlink("usr/bin/ls", "usr/bin/busybox", Exec)
            .Hardlink("usr/bin/cat", "usr/bin/busybox", Exec)
            .Hardlink("usr/bin/cp", "usr/bin/busybox", Exec)
            .Symlink("usr/bin/sh", "busybox")
            .File("usr/bin/gzip", Content.Binary("base/gzip", 61_440), Exec)
            .Hardlink("usr/bin/gunzip", "usr/bin/gzip", Exec)
            .Hardlink("usr/bin/zcat", "usr/bin/gzip", Exec)
            .File("usr/bin/env", Content.Binary("base/env", 18_432), Exec)
            .File("usr/bin/tar", Content.Binary("base/tar", 122_880), Exec)
            .File("usr/sbin/adduser", Content.Binary("base/adduser", 8_192), Exec)
            .File("usr/lib/ld-musl-x86_64.so.1", Content.Binary("base/ld-musl", 40_960), Exec)
            .File("usr/lib/libc.musl-x86_64.so.1", Content.Binary("base/ld-musl", 40_960), Exec)
            .File("usr/lib/libz.so.1.3", Content.Binary("base/libz", 30_720), Exec)
            .Symlink("usr/lib/libz.so.1", "libz.so.1.3")
            .File("usr/share/doc/busybox/copyright", GplText)
            .File("usr/share/doc/gzip/copyright", GplText)
            .File("usr/share/doc/tar/copyright", GplText)
            .File("usr/share/doc/zlib/copyright", "zlib license (sample text)\n" + Content.Text("license/zlib", 12))
            .File("usr/share/common-licenses/GPL-2", GplText)
            .File("var/lib/apk/installed", Content.Text("apk/installed/1", 40, 6));

        var packages = new LayerBuilder(implicitParents: true)
            .Dir("etc").Dir("etc/ssl").Dir("etc/ssl/certs")
            .File("etc/ssl/certs/ca-certificates.crt", Content.Pem("ca-bundle", 40))
            .File("usr/bin/curl", Content.Binary("pkg/curl", 90_112), Exec)
            .File("usr/lib/libcurl.so.4", Content.Binary("pkg/libcurl", 147_456), Exec)
            .File("usr/lib/libssl.so.3", Content.Binary("pkg/libssl", 118_784), Exec)
            .File("usr/share/doc/curl/copyright", MitText)
            .File("usr/share/doc/ca-certificates/copyright", GplText)
            .File("var/cache/apk/APKINDEX.4f1d7a2b.tar.gz", Content.Random("pkg/apkindex", 40_960))
            .File("var/lib/apk/installed", Content.Text("apk/installed/1", 40, 6) + Content.Text("apk/installed/2", 12, 6));

        var cleanup = new LayerBuilder(implicitParents: true)
            .Dir("var").Dir("var/cache").Dir("var/cache/apk")
            .Whiteout("var/cache/apk/APKINDEX.4f1d7a2b.tar.gz");

        var l1 = BuiltLayer.From(rootfs, LayerCompression.Gzip);
        var l2 = BuiltLayer.From(packages, LayerCompression.Gzip);
        var l3 = BuiltLayer.From(cleanup, LayerCompression.Gzip);

        ImageBuilder BaseBuilder(BuiltLayer a, BuiltLayer b, BuiltLayer c) => new ImageBuilder("linux", "amd64")
            .Layer(a, "/bin/sh -c #(nop) ADD file:demo-rootfs-3.19.1.tar in / ")
            .EmptyLayerHistory("/bin/sh -c #(nop)  ENV LANG=C.UTF-8")
            .Layer(b, "/bin/sh -c apk add --no-cache ca-certificates curl")
            .Layer(c, "/bin/sh -c rm -rf /var/cache/apk/*")
            .EmptyLayerHistory("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]")
            .Env("LANG=C.UTF-8");

        var baseImage = BaseBuilder(l1, l2, l3).Build().Tagged("base:1.0");
        var baseZstd = BaseBuilder(l1.Recompress(LayerCompression.Zstd), l2.Recompress(LayerCompression.Zstd), l3.Recompress(LayerCompression.Zstd))
            .Build().Tagged("base:1.0-zstd");

        // ---- web:1.0 — FROM base, a static site and a web server ----
        var appJs = Content.Text("web/app.js", 700, 8);
        var site = new LayerBuilder(implicitParents: true)
            .File("srv/www/index.html", "<!doctype html>\n<title>Demo</title>\n" + Content.Text("web/index", 60))
            .File("srv/www/about.html", "<!doctype html>\n<title>About</title>\n" + Content.Text("web/about", 40))
            .File("srv/www/assets/app.js", appJs)
            .File("srv/www/assets/app.3f2a1c.js", appJs)
            .File("srv/www/assets/style.css", Content.Text("web/css", 120, 4))
            .File("srv/www/assets/logo.png", Content.Random("web/logo.png", 12_288))
            .File("srv/www/cache/page1.html", Content.Text("web/cache/1", 80))
            .File("srv/www/cache/page2.html", Content.Text("web/cache/2", 80))
            .File("srv/www/LICENSE", GplText);
        var server = new LayerBuilder(implicitParents: true)
            .File("usr/bin/webd", Content.Binary("web/webd", 253_952), Exec)
            .File("etc/webd/webd.conf", "listen 8080\nroot /srv/www\n" + Content.Text("web/conf", 20, 5))
            .File("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.0.10\tbackend\n")
            .Opaque("srv/www/cache")
            .File("srv/www/cache/page1.html", Content.Text("web/cache/1b", 80))
            .File("var/lib/apk/installed", Content.Text("apk/installed/1", 40, 6) + Content.Text("apk/installed/2", 12, 6) + Content.Text("apk/installed/3", 5, 6));
        var web = new ImageBuilder("linux", "amd64")
            .Layer(l1, "/bin/sh -c #(nop) ADD file:demo-rootfs-3.19.1.tar in / ")
            .EmptyLayerHistory("/bin/sh -c #(nop)  ENV LANG=C.UTF-8")
            .Layer(l2, "/bin/sh -c apk add --no-cache ca-certificates curl")
            .Layer(l3, "/bin/sh -c rm -rf /var/cache/apk/*")
            .EmptyLayerHistory("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]")
            .Layer(site, LayerCompression.Gzip, "COPY site/ /srv/www/ # buildkit")
            .Layer(server, LayerCompression.Gzip, "RUN /bin/sh -c apk add webd && rebuild-cache # buildkit")
            .EmptyLayerHistory("EXPOSE map[8080/tcp:{}]")
            .EmptyLayerHistory("CMD [\"/usr/bin/webd\"]")
            .Env("LANG=C.UTF-8").Cmd("/usr/bin/webd").WorkingDir("/srv/www")
            .Build().Tagged("web:1.0");

        // ---- worker:1.0 and worker:1.1 — FROM base; 1.1 rebuilt the app layer with a few files changed ----
        LayerBuilder WorkerApp(string version, string binarySeed, string changedModule)
        {
            var six = Content.Text("worker/six.py", 300, 9);
            var app = new LayerBuilder(implicitParents: true)
                .File("opt/worker/bin/worker", Content.Binary(binarySeed, 184_320), Exec)
                .File("opt/worker/VERSION", version + "\n")
                .File("opt/worker/README.md", "# worker\n\n" + Content.Text("worker/readme", 50))
                .File("opt/worker/LICENSE", MitText)
                .File("opt/worker/lib/vendor/six.py", six)
                .File("opt/worker/lib/compat/six.py", six);
            foreach (var module in new[] { "main", "queue", "jobs", "db", "http", "util", "config", "metrics" })
            {
                var seed = module == "jobs" ? changedModule : "worker/" + module + ".py";
                app.File("opt/worker/lib/" + module + ".py", "# " + module + "\n" + Content.Text(seed, 150, 9));
            }
            return app;
        }
        var workerUsers = new LayerBuilder(implicitParents: true)
            .Dir("usr").Dir("usr/share")
            .Whiteout("usr/share/doc")
            .File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\nworker:x:1000:1000::/home/worker:/bin/sh\n")
            .File("etc/group", "root:x:0:root\nnobody:x:65534:\nworker:x:1000:\n")
            .Dir("home/worker");
        var usersLayer = BuiltLayer.From(workerUsers, LayerCompression.Gzip);
        BuiltImage Worker(LayerBuilder app, string tag) => new ImageBuilder("linux", "amd64")
            .Layer(l1, "/bin/sh -c #(nop) ADD file:demo-rootfs-3.19.1.tar in / ")
            .EmptyLayerHistory("/bin/sh -c #(nop)  ENV LANG=C.UTF-8")
            .Layer(l2, "/bin/sh -c apk add --no-cache ca-certificates curl")
            .Layer(l3, "/bin/sh -c rm -rf /var/cache/apk/*")
            .EmptyLayerHistory("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]")
            .Layer(app, LayerCompression.Gzip, "COPY worker/ /opt/worker/ # buildkit")
            .Layer(usersLayer, "RUN /bin/sh -c rm -rf /usr/share/doc && adduser -D worker # buildkit")
            .EmptyLayerHistory("USER worker")
            .Env("LANG=C.UTF-8").Cmd("/opt/worker/bin/worker").WorkingDir("/opt/worker")
            .Label("org.opencontainers.image.version", tag.Split(':')[1])
            .Build().Tagged(tag);
        var worker10 = Worker(WorkerApp("1.0.0", "worker/bin/1.0", "worker/jobs.py"), "worker:1.0");
        var worker11 = Worker(WorkerApp("1.1.0", "worker/bin/1.1", "worker/jobs.py/1.1"), "worker:1.1");

        // ---- tool:2.0 — FROM scratch, linux/amd64 + linux/arm64/v8; the docs layer (eStargz) is one blob in both ----
        var docs = new LayerBuilder(implicitParents: true)
            .File("usr/local/share/doc/tool/README.md", "# tool\n\n" + Content.Text("tool/readme", 80))
            .File("usr/local/share/doc/tool/CHANGELOG.md", "# Changes\n\n" + Content.Text("tool/changelog", 120))
            .File("usr/local/share/doc/tool/LICENSE", GplText)
            .Hardlink("usr/local/share/doc/tool/COPYING", "usr/local/share/doc/tool/LICENSE")
            .File("usr/local/share/man/man1/tool.1", ".TH TOOL 1\n" + Content.Text("tool/man", 60));
        var docsLayer = BuiltLayer.From(docs, LayerCompression.EStargz);
        LayerBuilder ToolBin(string arch, int size) => new LayerBuilder(implicitParents: true)
            .File("usr/local/bin/tool", Content.Binary("tool/bin/" + arch, size), Exec)
            .File("etc/tool/config.yaml", "log_level: info\nworkers: 4\n" + Content.Text("tool/config", 10, 4));
        BuiltImage Tool(string arch, string? variant, LayerBuilder bin, LayerCompression compression) => new ImageBuilder("linux", arch, variant)
            .Layer(bin, compression, "COPY tool /usr/local/bin/tool # buildkit")
            .Layer(docsLayer, "COPY docs/ /usr/local/share/ # buildkit")
            .Cmd("/usr/local/bin/tool").Env("TOOL_HOME=/etc/tool")
            .Build();
        var tool = BuiltIndex.Of(
            Tool("amd64", null, ToolBin("amd64", 151_552), LayerCompression.Gzip),
            Tool("arm64", "v8", ToolBin("arm64", 143_360), LayerCompression.Zstd)).Tagged("tool:2.0");

        // ---- hello:1.0 — FROM scratch, two layers, the second replaces the binary ----
        var hello1 = new LayerBuilder(implicitParents: true)
            .File("hello", Content.Binary("hello/1", 20_480), Exec)
            .File("etc/passwd", "nobody:x:65534:65534:nobody:/:/hello\n");
        var hello2 = new LayerBuilder(implicitParents: true)
            .File("hello", Content.Binary("hello/2", 22_528), Exec);
        var hello = new ImageBuilder("linux", "amd64")
            .Layer(hello1, LayerCompression.None, "COPY hello /hello # buildkit")
            .Layer(hello2, LayerCompression.None, "COPY hello-v2 /hello # buildkit")
            .EmptyLayerHistory("USER nobody")
            .Cmd("/hello")
            .Build().Tagged("hello:1.0");

        return new SampleSet(baseImage, baseZstd, web, worker10, worker11, tool, hello);
    }

    /// <summary>Writes the sample set into <paramref name="dir"/> (replacing the files it owns) and returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string dir)
    {
        var set = Build();
        Directory.CreateDirectory(dir);
        string P(string name) => Path.Combine(dir, name);

        ArchiveWriter.DockerSaveLegacy(P(SampleSet.LegacyTar), set.Base, set.Web);
        ArchiveWriter.DockerSave25(P(SampleSet.Docker25Tar), set.Worker10, set.Worker11);
        if (Directory.Exists(P(SampleSet.OciLayoutDir)))
        {
            Directory.Delete(P(SampleSet.OciLayoutDir), recursive: true);
        }
        ArchiveWriter.OciLayout(P(SampleSet.OciLayoutDir), set.Base, set.BaseZstd, set.Web, OciEntry.Of(set.Tool, nested: false));
        ArchiveWriter.OciArchive(P(SampleSet.OciArchiveTar), OciEntry.Of(set.Tool, nested: true), set.Web);

        var helloTar = P("hello.docker-legacy.tar");
        ArchiveWriter.DockerSaveLegacy(helloTar, set.Hello);
        ArchiveWriter.Gzip(helloTar);
        File.Delete(helloTar);

        return [SampleSet.LegacyTar, SampleSet.Docker25Tar, SampleSet.OciLayoutDir, SampleSet.OciArchiveTar, SampleSet.GzippedLegacyTar];
    }
}
