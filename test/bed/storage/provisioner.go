package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// ProvisionerName is the provisioner of the bed's StorageClass.
const ProvisionerName = "haredis.dev/bed-hostpath"

// ClassName is the bed's default StorageClass.
const ClassName = "standard"

// minSize is the smallest volume: ext4 needs some room for itself.
var minSize = resource.MustParse("16Mi")

// Provisioner provisions, grows and deletes the bed's volumes.
type Provisioner struct {
	dir    string
	client kubernetes.Interface
	log    logr.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// Start creates the StorageClass and runs the provisioner and the resizer
// until Stop. Volumes live under dir.
func Start(ctx context.Context, client kubernetes.Interface, dir string, log logr.Logger) (*Provisioner, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create volume directory: %w", err)
	}
	expand, reclaim, immediate := true, corev1.PersistentVolumeReclaimDelete, storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: ClassName, Annotations: map[string]string{
			"storageclass.kubernetes.io/is-default-class": "true",
		}},
		Provisioner:          ProvisionerName,
		AllowVolumeExpansion: &expand,
		ReclaimPolicy:        &reclaim,
		VolumeBindingMode:    &immediate,
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("cannot create StorageClass %s: %w", ClassName, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p := &Provisioner{dir: dir, client: client, log: log, cancel: cancel, done: make(chan struct{})}
	ctrl := controller.NewProvisionController(runCtx, client, ProvisionerName, p,
		controller.LeaderElection(false),
		controller.ResyncPeriod(5*time.Second),
		controller.FailedProvisionThreshold(0),
		controller.CreateProvisionedPVInterval(100*time.Millisecond),
	)
	go func() {
		defer close(p.done)
		go ctrl.Run(runCtx)
		p.resizeLoop(runCtx)
	}()
	return p, nil
}

// Stop ends the controllers; volumes stay until Cleanup.
func (p *Provisioner) Stop() {
	p.cancel()
	<-p.done
}

// volumeAnnotation on a PV names its mount point on the host.
const volumeAnnotation = "haredis.dev/bed-volume"

func (p *Provisioner) path(pvName string) string { return filepath.Join(p.dir, pvName) }

// Provision mounts a file system of the claimed size.
func (p *Provisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	size := opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.Cmp(minSize) < 0 {
		size = minSize.DeepCopy()
	}
	mnt := p.path(opts.PVName)
	if err := p.create(ctx, mnt, size.Value()); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	p.log.Info("volume provisioned", "pv", opts.PVName, "size", size.String())
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName, Annotations: map[string]string{volumeAnnotation: mnt}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *opts.StorageClass.ReclaimPolicy,
			AccessModes:                   opts.PVC.Spec.AccessModes,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: mnt}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (p *Provisioner) create(ctx context.Context, mnt string, size int64) error {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return fmt.Errorf("cannot create mount point: %w", err)
	}
	// A size-limited tmpfs: writes beyond the size fail with ENOSPC, df
	// shows the size, and a remount grows it while pods use it. (Online
	// growth of ext4 on a loop device needs CAP_SYS_RESOURCE, which the
	// project's machines do not grant.)
	return run(ctx, "mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0777", size), "bed-volume", mnt)
}

// Delete unmounts the volume and removes its image.
func (p *Provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	mnt := p.path(pv.Name)
	if err := unmount(mnt); err != nil {
		return err
	}
	if err := os.Remove(mnt); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cannot remove mount point: %w", err)
	}
	p.log.Info("volume deleted", "pv", pv.Name)
	return nil
}

// Cleanup unmounts and removes every volume (the bed is going away).
func (p *Provisioner) Cleanup(ctx context.Context) error {
	entries, err := os.ReadDir(p.dir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cannot list volumes: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			if err := unmount(filepath.Join(p.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func unmount(mnt string) error {
	// Lazy: a container that still has the volume keeps it until it exits.
	err := syscall.Unmount(mnt, syscall.MNT_DETACH)
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("cannot unmount %s: %w", mnt, err)
	}
	return nil
}

func run(ctx context.Context, prog string, args ...string) error {
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot run %s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
