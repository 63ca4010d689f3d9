package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/certs"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/rdbimport"
	"github.com/haredis/haredis/internal/specs"
)

// ImportOptions are the choices of `import`.
type ImportOptions struct {
	// Replace overwrites keys that exist (default: keep them).
	Replace bool
	// StartTimeout bounds the wait for the import pod to run.
	StartTimeout time.Duration
	// Progress, when set, gets what the import pod says on its way.
	Progress io.Writer
}

// ComponentImport labels the pod an import runs in.
const ComponentImport = "import"

// ImportRDB streams an RDB file from r into the primary of RedisFailover
// ns/name, online: it starts a pod of the RedisFailover's own image (so its
// engine and version read the file), streams the file into it through the
// API server's exec, and `haredis import rdb` there replays every key with
// DUMP/RESTORE through NAME-primary, so the replicas follow and nothing
// restarts. The pod is deleted at the end, whatever happened; it belongs
// to the RedisFailover and ends on its own after a day if the plugin could
// not delete it.
func ImportRDB(ctx context.Context, c client.Client, cfg *rest.Config, ns, name string, r io.Reader, o ImportOptions) (*rdbimport.Report, error) {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	if err := NoPrimary(rf); err != nil {
		return nil, err
	}
	primary := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.Status.CurrentPrimary}, primary); err != nil {
		return nil, explain(err, "get", "pods", ns, "pod "+rf.Status.CurrentPrimary)
	}
	pod, err := importPod(rf, primary)
	if err != nil {
		return nil, err
	}
	if err := c.Create(ctx, pod); err != nil {
		return nil, explain(err, "create", "pods", ns, "the import pod")
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.Delete(dctx, pod, client.GracePeriodSeconds(0))
	}()
	if err := waitRunning(ctx, c, pod, o.StartTimeout); err != nil {
		return nil, err
	}
	argv := importCommand(rf, ns, o.Replace)
	var out bytes.Buffer
	errOut := o.Progress
	if errOut == nil {
		errOut = io.Discard
	}
	runErr := RunCLI(ctx, cfg, ns, &CLITarget{Pod: pod.Name, Container: ComponentImport, Command: argv}, false, r, &out, errOut)
	var rep *rdbimport.Report
	if line := strings.TrimSpace(out.String()); line != "" {
		rep = &rdbimport.Report{}
		if err := json.Unmarshal([]byte(line[strings.LastIndex(line, "\n")+1:]), rep); err != nil {
			rep = nil
		}
	}
	if runErr != nil {
		return rep, fmt.Errorf("the import into %s failed (keys imported before the failure stay): %w", name, runErr)
	}
	if rep == nil {
		return nil, fmt.Errorf("the import pod gave no report: %q", out.String())
	}
	return rep, nil
}

// importCommand is `haredis import rdb` as the import pod runs it.
func importCommand(rf *haredisv1.RedisFailover, ns string, replace bool) []string {
	argv := []string{specs.InstanceBinary, "import", "rdb", "--work-dir", importWorkDir,
		"--target", net.JoinHostPort(rf.PrimaryServiceName()+"."+ns+".svc", strconv.Itoa(specs.RedisPort))}
	switch {
	case rf.ACLUsersEnabled():
		// RESTORE is one of the dangerous commands the application user
		// lacks.
		argv = append(argv, "--user", acl.AdminUser, "--password-file", specs.AuthDir+"/"+acl.AdminPasswordKey)
	case rf.AuthEnabled():
		argv = append(argv, "--password-file", specs.AuthDir+"/"+specs.PasswordKey)
	}
	if rf.TLSEnabled() {
		argv = append(argv, "--tls-dir", certs.MountDir)
	}
	if replace {
		argv = append(argv, "--replace")
	}
	return argv
}

const importWorkDir = "/import"

// importPod runs the RedisFailover's image, with haredis copied in as in
// its instances, the password file, and room for the file.
func importPod(rf *haredisv1.RedisFailover, primary *corev1.Pod) (*corev1.Pod, error) {
	var redisC *corev1.Container
	for i := range primary.Spec.Containers {
		if primary.Spec.Containers[i].Name == "redis" {
			redisC = &primary.Spec.Containers[i]
		}
	}
	var binC *corev1.Container
	for i := range primary.Spec.InitContainers {
		if c := primary.Spec.InitContainers[i]; c.Name == "haredis-bin" {
			// Only what copies the binary: the API server added mounts
			// (the service account's token) that this pod has not.
			binC = &corev1.Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy, Command: c.Command, Args: c.Args,
				SecurityContext: c.SecurityContext, VolumeMounts: []corev1.VolumeMount{{Name: "haredis-bin", MountPath: specs.BinDir}}}
		}
	}
	if redisC == nil || binC == nil {
		return nil, fmt.Errorf("the primary's pod %s has no redis container or no haredis-bin init container: is it a haredis instance?", primary.Name)
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	labels := specs.Labels(rf, ComponentImport)
	delete(labels, specs.LabelManagedBy) // not the operator's to look after
	mounts := []corev1.VolumeMount{{Name: "haredis-bin", MountPath: specs.BinDir}, {Name: "work", MountPath: importWorkDir}}
	volumes := []corev1.Volume{
		{Name: "haredis-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if rf.AuthEnabled() {
		mounts = append(mounts, corev1.VolumeMount{Name: "auth", MountPath: specs.AuthDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: specs.InternalSecretName(rf), Items: []corev1.KeyToPath{importCredential(rf)},
			DefaultMode: ptr.To[int32](0o400),
		}}})
	}
	if rf.TLSEnabled() {
		// The CA alone: the import speaks TLS to the primary as a client.
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: certs.MountDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: rf.TLSSecretName(), Items: []corev1.KeyToPath{{Key: certs.CAKey, Path: certs.CAKey}},
			DefaultMode: ptr.To[int32](0o400),
		}}})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: rf.Name + "-import-" + hex.EncodeToString(suffix), Namespace: rf.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{specs.OwnerReference(rf)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:        ptr.To[int64](24 * 3600),
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              primary.Spec.SecurityContext,
			NodeSelector:                 primary.Spec.NodeSelector,
			Tolerations:                  primary.Spec.Tolerations,
			ImagePullSecrets:             primary.Spec.ImagePullSecrets,
			InitContainers:               []corev1.Container{*binC},
			Containers: []corev1.Container{{
				Name: ComponentImport, Image: redisC.Image, ImagePullPolicy: redisC.ImagePullPolicy,
				// Idle until the plugin runs the import in it; the pod
				// is deleted after.
				Command:         []string{"sleep", "86400"},
				VolumeMounts:    mounts,
				SecurityContext: redisC.SecurityContext,
			}},
			Volumes: volumes,
		},
	}, nil
}

// waitRunning waits until pod runs, saying why when it does not.
func waitRunning(ctx context.Context, c client.Client, pod *corev1.Pod, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	p := &corev1.Pod{}
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), p); err == nil {
			switch p.Status.Phase {
			case corev1.PodRunning:
				return nil
			case corev1.PodFailed, corev1.PodSucceeded:
				return fmt.Errorf("the import pod %s ended (%s: %s) before the import", p.Name, p.Status.Phase, p.Status.Message)
			}
		}
		if time.Now().After(deadline) {
			why := string(p.Status.Phase)
			for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				if w := cs.State.Waiting; w != nil {
					why += fmt.Sprintf("; %s: %s %s", cs.Name, w.Reason, w.Message)
				}
			}
			return fmt.Errorf("the import pod %s did not start within %s (%s); kubectl describe pod %s -n %s says why", p.Name, timeout, why, p.Name, p.Namespace)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// PrintImport says what an import did.
func PrintImport(w io.Writer, name string, r *rdbimport.Report) {
	fmt.Fprintf(w, "imported %d of %d keys into %s in %.1fs (RDB format %d", r.Imported, r.Keys, name, r.Seconds, r.Format)
	if r.Writer != "" {
		fmt.Fprintf(w, ", written by %s", r.Writer)
	}
	fmt.Fprintf(w, ", %d bytes)\n", r.Bytes)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d keys that exist in %s (kept as they are; --replace overwrites them)\n", r.Skipped, name)
	}
	if r.Expired > 0 {
		fmt.Fprintf(w, "%d keys expired before they were copied\n", r.Expired)
	}
	if r.Refused > 0 {
		fmt.Fprintf(w, "%s refused %d keys:\n", name, r.Refused)
		for _, x := range r.Refusals {
			fmt.Fprintf(w, "  db %d %q: %s\n", x.DB, x.Key, x.Error)
		}
		if int64(len(r.Refusals)) < r.Refused {
			fmt.Fprintf(w, "  ... and %d more\n", r.Refused-int64(len(r.Refusals)))
		}
	}
}

// importCredential is the key of NAME-internal the import pod mounts: the
// admin user's password with Redis users, else the password.
func importCredential(rf *haredisv1.RedisFailover) corev1.KeyToPath {
	if rf.ACLUsersEnabled() {
		return corev1.KeyToPath{Key: acl.AdminPasswordKey, Path: acl.AdminPasswordKey}
	}
	return corev1.KeyToPath{Key: specs.PasswordKey, Path: specs.PasswordKey}
}
