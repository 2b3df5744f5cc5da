/*
 * file: keeps the finished video in a local folder as <video_id>.mp4, with
 * its captions and poster beside it (<video_id>.vtt, .srt, .jpg, .thumb.jpg),
 * and answers where it is: base_url + name when one is set (the daemon
 * serves /media/), else the file's absolute path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vidgen/plugin.h"
#include "../common/companions.h"

typedef struct file_conf {
	const char *dir;      /* "" = <job root>/videos */
	const char *base_url; /* "" = answer the path */
} file_conf;

static const vg_setting file_settings[] = {
	VG_SETTING_PATH("dir", file_conf, dir, "",
			"folder for finished videos (default: videos/ beside the job folders)"),
	VG_SETTING_STR("base_url", file_conf, base_url, "${VIDGEN_MEDIA_URL:-}",
		       "URL prefix the video is served under, e.g. /media/ (default: answer "
		       "the file path)"),
	VG_SETTINGS_END
};

static int mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536], tmp[PATH_MAX];
	int in = -1, out = -1, rc = -1;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.part", to) >= (int)sizeof(tmp))
		return -1;
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		goto out;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto out;
			}
			off += w;
		}
	}
	if (n < 0 || fsync(out) < 0)
		goto out;
	if (close(out) < 0) {
		out = -1;
		goto out;
	}
	out = -1;
	rc = rename(tmp, to);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static const vg_artifact *find_video(const vg_stage *st)
{
	for (size_t i = 0; i < st->n_inputs; i++)
		if (!strcmp(st->inputs[i].kind, "video"))
			return &st->inputs[i];
	return NULL;
}

/* Where name is found: base_url + name, or the path in dir. */
static void file_url(const file_conf *fs, const char *dir, const char *name, char *url,
		     size_t len)
{
	if (fs->base_url[0])
		snprintf(url, len, "%s%s%s", fs->base_url,
			 fs->base_url[strlen(fs->base_url) - 1] == '/' ? "" : "/", name);
	else
		snprintf(url, len, "%s/%s", dir, name);
}

/* A hard link when the folder shares the file system, else a copy. */
static int keep_file(const char *from, const char *to)
{
	unlink(to);
	return link(from, to) < 0 && copy_file(from, to) < 0 ? -1 : 0;
}

/* The render's captions and poster, kept as <video_id><suffix> beside the
 * video and reported to the core; a companion the render did not leave
 * this time is removed, so an older one is not shown with a newer video. */
static int keep_companions(const file_conf *fs, vg_stage *st, const char *video,
			   const char *dir)
{
	char from[PATH_MAX], name[128], to[PATH_MAX + 128], url[PATH_MAX + 256];
	struct stat sb;

	for (const companion *c = companions; c->suffix; c++) {
		snprintf(name, sizeof(name), "%s%s", st->job->id, c->suffix);
		snprintf(to, sizeof(to), "%s/%s", dir, name);
		if (companion_path(video, c, from, sizeof(from)) < 0 ||
		    lstat(from, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			unlink(to);
			continue;
		}
		if (keep_file(from, to) < 0) {
			st->svc->fail(st, "cannot store %s: %s", to, strerror(errno));
			return VG_EIO;
		}
		file_url(fs, dir, name, url, sizeof(url));
		if (VG_HAS(st->svc, vg_services, output_link) &&
		    st->svc->output_link(st, c->field, url) != VG_OK)
			return VG_EINVAL;
	}
	return VG_OK;
}

static int file_run(void *instance, vg_stage *st)
{
	const file_conf *fs = instance;
	const vg_artifact *video = find_video(st);
	char dir[PATH_MAX], dest[PATH_MAX], name[128], url[PATH_MAX + 256];
	const char *slash;
	int rc;

	if (!video) {
		st->svc->fail(st, "stage \"%s\" has no video input to store", st->id);
		return VG_EINVAL;
	}
	if (fs->dir[0]) {
		snprintf(dir, sizeof(dir), "%s", fs->dir);
	} else {
		slash = strrchr(st->job->job_dir, '/');
		snprintf(dir, sizeof(dir), "%.*s/videos",
			 (int)(slash ? slash - st->job->job_dir : 0), st->job->job_dir);
	}
	if (snprintf(dest, sizeof(dest), "%s/%s.mp4", dir, st->job->id) >= (int)sizeof(dest) ||
	    mkdirs(dir) < 0) {
		st->svc->fail(st, "cannot create the video folder %s: %s", dir, strerror(errno));
		return VG_EIO;
	}
	if (keep_file(video->path, dest) < 0) {
		st->svc->fail(st, "cannot store the video as %s: %s", dest, strerror(errno));
		return VG_EIO;
	}
	if ((rc = keep_companions(fs, st, video->path, dir)) != VG_OK)
		return rc;
	snprintf(name, sizeof(name), "%s.mp4", st->job->id);
	file_url(fs, dir, name, url, sizeof(url));
	st->svc->log(st, VG_LOG_INFO, "stored %s", dest);
	return st->svc->output_write(st, "url", "url.txt", url, strlen(url));
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,
	.name = "file",
	.kind = "store",
	.version = "1.0.0",
	.description = "keeps finished videos in a local folder",
	.settings = file_settings,
	.instance_size = sizeof(file_conf),
	.run = file_run,
};
